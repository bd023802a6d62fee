package protolog

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzIDKey: for ids of at most sixteen bytes tracker.lookup's cache
// compares keys alone, so equal keys must mean equal ids; for longer ids
// equal ids still give equal keys (the ids are compared as well).
func FuzzIDKey(f *testing.F) {
	f.Add([]byte("08D6CE8F0A2C3B11"), []byte("08D6CE8F0A2C3B12"))
	f.Add([]byte("A"), []byte("\x00A"))
	f.Add([]byte("12345678"), []byte("123456789"))
	f.Add([]byte("0123456789ABCDEFG"), []byte("0123456789ABCDEFG"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ka, kb := keyOf(a), keyOf(b)
		if bytes.Equal(a, b) && (ka != kb || ka.slot() != kb.slot()) {
			t.Fatalf("keyOf(%q) = %v, %v: equal ids, different keys", a, ka, kb)
		}
		if len(a) <= 16 && len(b) <= 16 && ka == kb && !bytes.Equal(a, b) {
			t.Fatalf("keyOf(%q) == keyOf(%q)", a, b)
		}
	})
}

// FuzzCmpCanonical: touch's three-word comparison of canonical times is
// bytes.Compare.
func FuzzCmpCanonical(f *testing.F) {
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("2019-05-02T06:32:10.119Z"))
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("2019-05-02T06:32:10.118Z"))
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("2018-12-31T23:59:59.999Z"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) < canonicalTimeLen || len(b) < canonicalTimeLen {
			return
		}
		x, y := [canonicalTimeLen]byte(a), [canonicalTimeLen]byte(b)
		if got, want := cmpCanonical(&x, &y), bytes.Compare(x[:], y[:]); got != want {
			t.Fatalf("cmpCanonical(%q, %q) = %d, bytes.Compare %d", x, y, got, want)
		}
	})
}

// FuzzIsStartTLS: addCap's keyword test is strings.EqualFold.
func FuzzIsStartTLS(f *testing.F) {
	for _, s := range []string{"STARTTLS", "starttls", "ſTARTTLS", "SIZE", "", "PIPELINING", "\x80", "STARTTLſ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, kw string) {
		if got, want := isStartTLS(kw), strings.EqualFold(kw, "STARTTLS"); got != want {
			t.Fatalf("isStartTLS(%q) = %v, strings.EqualFold %v", kw, got, want)
		}
	})
}
