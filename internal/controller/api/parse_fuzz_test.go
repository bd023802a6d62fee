package api

import (
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// The API's small parsers of client input (page tokens, etags, idempotency
// keys) never panic, and what they accept round-trips.
func FuzzClientTokens(f *testing.F) {
	for _, s := range []string{"", encodePageToken(0), encodePageToken(1200), encodeResultToken(store.ResultKey{Agent: "edge02", Check: "smtp_probe", Target: "smtp://mx:25"}),
		`"inc-0123456789abcdef-1-7"`, `W/"inc-1-2"`, "inc--0", "bm90LWEtdG9rZW4", "\x00\x00", strings.Repeat("A", 5000), "ack-7f3a", "key with space"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := decodePageToken(s); err == nil && s != "" && encodePageToken(n) != s && n >= 0 {
			// Several encodings may decode to one offset (leading zeros); the
			// canonical one must decode to it too.
			if m, err := decodePageToken(encodePageToken(n)); err != nil || m != n {
				t.Fatalf("page token %q -> %d does not round-trip", s, n)
			}
		}
		if k, err := decodeResultToken(s); err == nil && s != "" {
			if k.Agent == "" {
				t.Fatalf("result token %q accepted without an agent", s)
			}
			if back, err := decodeResultToken(encodeResultToken(k)); err != nil || back != k {
				t.Fatalf("result token %q -> %+v does not round-trip", s, k)
			}
		}
		if id, seq, ok := parseETag(s); ok && (id == "" || seq == 0) {
			t.Fatalf("etag %q accepted as %q/%d", s, id, seq)
		}
		if validIdempotencyKey(s) && (len(s) > 255 || strings.ContainsAny(s, " \t\r\n")) {
			t.Fatalf("idempotency key %q accepted", s)
		}
	})
}
