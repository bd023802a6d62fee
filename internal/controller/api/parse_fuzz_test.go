package api

import (
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// The API's small parsers of client input (page tokens, etags, idempotency
// keys) never panic, and what they accept round-trips.
func FuzzClientTokens(f *testing.F) {
	for _, s := range []string{"", encodeIncidentToken(incident.PageKey{Severity: 4, FirstSeen: 1795611600000000000, ID: "inc-0123456789abcdef-1"}),
		encodeDeliveryToken(1200), encodeResultToken(store.ResultKey{Agent: "edge02", Check: "smtp_probe", Target: "smtp://mx:25"}),
		`"inc-0123456789abcdef-1-7"`, `W/"inc-1-2"`, "inc--0", "bm90LWEtdG9rZW4", "\x00\x00", strings.Repeat("A", 5000), "ack-7f3a", "key with space"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, ok, err := decodeIncidentToken(s); err == nil && ok {
			if k.ID == "" {
				t.Fatalf("incident token %q accepted without an id", s)
			}
			if back, _, err := decodeIncidentToken(encodeIncidentToken(k)); err != nil || back != k {
				t.Fatalf("incident token %q -> %+v does not round-trip", s, k)
			}
		}
		if n, ok, err := decodeDeliveryToken(s); err == nil && ok {
			if m, _, err := decodeDeliveryToken(encodeDeliveryToken(n)); err != nil || m != n {
				t.Fatalf("delivery token %q -> %d does not round-trip", s, n)
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
