package stream

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests: everything the
// package starts must stop when its owner closes or its context ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
