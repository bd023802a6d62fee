package api

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests: a handler's
// helpers (the event stream's reader) stop before it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
