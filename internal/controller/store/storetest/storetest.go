// Package storetest opens a real one-node raft store in memory for tests
// of the packages built on it (notify, web, correlate, ...): raft's
// in-memory transport and log, fast elections, closed when the test ends.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Open returns a store that leads its one-node cluster. opts adjust the
// configuration before it opens (a clock, a bound).
func Open(t testing.TB, opts ...func(*store.Config)) *store.Store {
	t.Helper()
	_, tr := raft.NewInmemTransport("127.0.0.1:1") // a label: nothing listens
	cfg := store.Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: string(tr.LocalAddr()), Transport: tr, InmemStore: true, Bootstrap: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for !s.LeaderReady() {
		if ctx.Err() != nil {
			t.Fatal("store leads but never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}
