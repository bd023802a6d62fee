package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// Adding a voter that never answers leaves raft's future unanswered for
// about the leader's lease (seconds here; with a bare Error() this call
// returned after 2.4 s despite its ended context); the caller whose
// context ends gets its context's error instead of waiting for raft.
func TestAddVoterReturnsWhenContextEnds(t *testing.T) {
	s, err := Open(Config{
		NodeID: "n1", DataDir: t.TempDir(), RaftBind: freePort(t), Bootstrap: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// A lease far longer than the call: raft does not answer the
		// future before the caller has left.
		HeartbeatTimeout: 2 * time.Second, ElectionTimeout: 2 * time.Second, LeaderLeaseTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := s.WaitLeader(wctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Nothing listens on the address.
	err = s.AddVoter(ctx, "ghost", freePort(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("AddVoter with an ended context: %v, want context.Canceled", err)
	}
}
