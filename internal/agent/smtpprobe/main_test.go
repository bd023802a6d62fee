package smtpprobe_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests: every server's
// Close must have waited for its goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
