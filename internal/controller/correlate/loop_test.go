package correlate

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
)

// Slow rounds are paced: the next round starts no sooner than busyFactor
// times the previous one's duration after it started (a lower bound, so a
// loaded machine only widens the gaps); fast rounds keep running at the
// interval; a Hold defers rounds until it is released. Rounds are counted,
// never timed against a deadline.
func TestLoopPacesSlowRounds(t *testing.T) {
	st := storetest.Open(t)
	// starts runs rounds of the given duration until n have completed and
	// returns when each started (Now is read at the start of a round).
	starts := func(n int, roundTakes time.Duration, hold func() bool) []time.Time {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		var at []time.Time
		loop := NewLoop(st, LoopConfig{Interval: 5 * time.Millisecond, IdleInterval: time.Nanosecond, Hold: hold,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: func() time.Time {
				now := time.Now()
				mu.Lock()
				at = append(at, now)
				mu.Unlock()
				return now
			},
			OnRound: func(RoundStats) {
				time.Sleep(roundTakes)
				mu.Lock()
				if len(at) >= n {
					cancel()
				}
				mu.Unlock()
			}})
		loop.Run(ctx)
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(at)
	}
	const slow = 60 * time.Millisecond
	at := starts(4, slow, nil)
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < busyFactor*slow {
			t.Errorf("round %d started %v after the previous %v round, want at least %v", i, gap, slow, busyFactor*slow)
		}
	}
	if at := starts(20, 0, nil); len(at) < 20 {
		t.Errorf("%d fast rounds, want 20", len(at))
	}
	var held atomic.Int64
	at = starts(3, 0, func() bool { return held.Add(1) <= 5 })
	if h := held.Load(); len(at) < 3 || h < 6 {
		t.Errorf("%d rounds after %d hold checks: want rounds only once the hold released (after 5)", len(at), h)
	}
}
