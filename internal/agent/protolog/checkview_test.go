package protolog

import (
	"testing"
)

// checkAndFull parses data with CheckView set (sequentially and chunked)
// and with every row fully decoded, and returns the first as JSON (summary
// and OnSession order) and CheckView of the second.
func checkAndFull(t testing.TB, data []byte, name string, p Parser) (check, full string) {
	t.Helper()
	q := p
	q.fullDecode = true
	full = parseAsJSON(t, q, data, name, false, CheckView)
	q.fullDecode, q.CheckView = false, true
	return firstDiff(full, func(parallel bool) string { return parseAsJSON(t, q, data, name, parallel, nil) })
}

// TestCheckViewEqualsFull: a parse with CheckView gives CheckView of the
// full decode's sessions, and the same files and counts.
func TestCheckViewEqualsFull(t *testing.T) {
	for _, tc := range equivalenceCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if c, f := checkAndFull(t, tc.data, tc.file, Parser{}); c != f {
				t.Fatalf("check view differs from the full decode's:\n%s", viewDiff(c, f))
			}
		})
	}
}

// FuzzCheckViewEqualsFull: on any input.
func FuzzCheckViewEqualsFull(f *testing.F) {
	for _, tc := range equivalenceCases(f) {
		if len(tc.data) < 16<<10 {
			f.Add(tc.data, tc.file == "RECV20190502-1.log")
		}
	}
	f.Add(genLog(genOptions{Sessions: 3, Interleave: 2, Seed: 1}), false)
	f.Add(genLog(genOptions{Direction: DirectionReceive, Sessions: 3, Interleave: 2, Seed: 2}), true)
	f.Fuzz(func(t *testing.T, data []byte, receive bool) {
		name := "SEND20200101-1.log"
		if receive {
			name = "RECV20200101-1.log"
		}
		if c, full := checkAndFull(t, data, name, Parser{MaxLineBytes: 512, MaxOpenSessions: 8}); c != full {
			t.Fatalf("check view differs from the full decode's on %q:\n%s", data, viewDiff(c, full))
		}
	})
}

// viewDiff shows where two results part.
func viewDiff(check, full string) string {
	i := 0
	for i < len(check) && i < len(full) && check[i] == full[i] {
		i++
	}
	lo := max(0, i-300)
	return "check: ..." + check[lo:min(len(check), i+300)] + "\nfull:  ..." + full[lo:min(len(full), i+300)]
}
