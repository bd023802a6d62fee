//go:build !windows

package tempdir

import "testing"

// New returns tb.TempDir().
func New(tb testing.TB) string {
	tb.Helper()
	return tb.TempDir()
}
