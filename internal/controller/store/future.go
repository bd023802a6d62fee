package store

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// awaitFuture waits until raft answers f, ctx ends or stop is closed.
//
// hashicorp/raft can leave a future unanswered forever when it shuts down
// between committing an entry and handing it to the FSM
// (https://github.com/hashicorp/raft/issues/498): a bare f.Error() then blocks
// its caller for good, which once hung Store.Close (the leader watch waited
// on a Barrier). So the wait runs in a goroutine of its own and the caller
// leaves on ctx or stop. That goroutine has no other owner than raft: it ends
// when raft answers the future, which it does for every future except the
// ones lost in the shutdown race above; it holds only the future.
func awaitFuture(ctx context.Context, stop <-chan struct{}, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("store: waiting for raft: %w", ctx.Err())
	case <-stop:
		return ErrClosed
	}
}
