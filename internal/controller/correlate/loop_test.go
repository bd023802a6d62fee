package correlate

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/portalloc"
)

// Slow rounds are paced (at most a quarter of the time spent correlating);
// fast rounds keep the configured interval.
func TestLoopPacesSlowRounds(t *testing.T) {
	var ports portalloc.Allocator
	addr, err := ports.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: addr, InmemStore: true, Bootstrap: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for !st.LeaderReady() {
		time.Sleep(10 * time.Millisecond)
	}
	count := func(roundTakes time.Duration) int64 {
		var n atomic.Int64
		loop := NewLoop(st, LoopConfig{Interval: 5 * time.Millisecond, IdleInterval: time.Nanosecond,
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnRound: func(RoundStats) { n.Add(1); time.Sleep(roundTakes) }})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		loop.Run(ctx)
		return n.Load()
	}
	// 60 ms rounds back to back would be ~15 in a second; paced, one per 240 ms.
	if n := count(60 * time.Millisecond); n < 2 || n > 6 {
		t.Fatalf("%d slow rounds in 1s, want 2-6 (paced to 4x their duration)", n)
	}
	if n := count(0); n < 40 {
		t.Fatalf("%d fast rounds in 1s at a 5ms interval, want at least 40", n)
	}
}
