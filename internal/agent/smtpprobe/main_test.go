package smtpprobe_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines started by mxprobe code outlive the
// tests: every server's Close must have waited for its goroutines.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := ownGoroutines(2 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// ownGoroutines waits up to d for goroutines running mxprobe code (other
// than this check) to finish, and returns the stacks of those left.
func ownGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "mxprobe/mxprobe/internal/") && !strings.Contains(g, "ownGoroutines") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
