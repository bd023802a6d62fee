package api

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FuzzStreamCursor: a client's Last-Event-ID or ?after= resumes the event
// stream at a decimal event id, Last-Event-ID first; anything else is
// InvalidArgument (400), never a stream from somewhere else.
func FuzzStreamCursor(f *testing.F) {
	for _, c := range [][2]string{{"", ""}, {"42", ""}, {"", "42"}, {"7", "9"}, {" 18446744073709551615 ", ""}, {"18446744073709551616", ""},
		{"-1", ""}, {"", "0x10"}, {"1e3", ""}, {"", "+5"}, {"\t", "3"}, {"٣", ""}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, lastEventID, after string) {
		n, err := streamCursor(lastEventID, after)
		chosen := lastEventID
		if chosen == "" {
			chosen = after
		}
		chosen = strings.TrimSpace(chosen)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument || chosen == "" {
				t.Fatalf("(%q, %q): %v", lastEventID, after, err)
			}
			return
		}
		if chosen == "" {
			if n != 0 {
				t.Fatalf("no cursor resumed at %d", n)
			}
			return
		}
		if strings.Trim(chosen, "0123456789") != "" {
			t.Fatalf("(%q, %q) accepted as %d", lastEventID, after, n)
		}
		if again, err := streamCursor(strconv.FormatUint(n, 10), ""); err != nil || again != n {
			t.Fatalf("cursor %d does not round-trip: %d, %v", n, again, err)
		}
	})
}
