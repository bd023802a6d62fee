package store

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests: everything the
// package starts must stop when its owner closes or its context ends. The
// one exception is awaitFuture's waiter on a future raft lost in its own
// shutdown race (hashicorp/raft#498, see future.go): raft never answers it,
// so nothing can stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/mxprobe/mxprobe/internal/controller/store.awaitFuture.func1"))
}
