package auth

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseSecret: any bearer value a client sends either is refused as
// ErrMalformedToken or yields a 16-hex-digit id taken from the value and
// the hash of the trimmed value; secrets NewSecret mints always parse.
func FuzzParseSecret(f *testing.F) {
	_, minted, err := NewSecret()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{minted, " " + minted + "\r\n", "mxp_0123456789abcdef_", "mxp_0123456789abcdef_x", "mxp_0123456789ABCDEG_x",
		"mxp__", "mxp_0123456789abcdef", "Bearer " + minted, strings.Repeat("mxp_", 80), "mxp_0123456789abcdef_\x00\xff", "mxp_٠١٢٣٤٥٦٧٨٩abcdef_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, err := ParseSecret(s)
		if err != nil {
			if err != ErrMalformedToken || id != "" || hash != nil {
				t.Fatalf("%q: %q %x %v", s, id, hash, err)
			}
			return
		}
		trimmed := strings.TrimSpace(s)
		if len(id) != 16 || !strings.HasPrefix(trimmed, "mxp_"+id+"_") || len(trimmed) > 256 {
			t.Fatalf("%q accepted with id %q", s, id)
		}
		if _, err := hex.DecodeString(id); err != nil {
			t.Fatalf("%q: id %q is not hex", s, id)
		}
		if !bytes.Equal(hash, Hash(trimmed)) {
			t.Fatalf("%q: hash is not of the trimmed token", s)
		}
	})
}
