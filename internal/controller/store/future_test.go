package store

import (
	"context"
	"errors"
	"testing"
)

// stuckFuture is a raft.Future that raft never answers (hashicorp/raft#498)
// until the test releases it.
type stuckFuture struct{ release chan error }

func (f stuckFuture) Error() error { return <-f.release }

func TestAwaitFutureLeavesAnUnansweredFuture(t *testing.T) {
	t.Run("store closing", func(t *testing.T) {
		f := stuckFuture{release: make(chan error, 1)}
		defer func() { f.release <- nil }()
		stop := make(chan struct{})
		close(stop)
		if err := awaitFuture(context.Background(), stop, f); !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		f := stuckFuture{release: make(chan error, 1)}
		defer func() { f.release <- nil }()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := awaitFuture(ctx, make(chan struct{}), f); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
	t.Run("answered", func(t *testing.T) {
		want := errors.New("raft said no")
		f := stuckFuture{release: make(chan error, 1)}
		f.release <- want
		if err := awaitFuture(context.Background(), make(chan struct{}), f); !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	})
}
