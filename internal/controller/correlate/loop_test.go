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

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Slow rounds are paced: the next round starts no sooner than busyFactor
// times the previous one's computation after it started (a lower bound, so a
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
			// A slow round is a slow computation (Now is read in it);
			// the wait for a proposal does not pace the loop.
			Now: func() time.Time {
				now := time.Now()
				mu.Lock()
				at = append(at, now)
				mu.Unlock()
				time.Sleep(roundTakes)
				return now
			},
			OnRound: func(RoundStats) {
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

// slowCommit is a store whose incident proposals take wait to commit, as
// on a loaded machine (fsync on three nodes).
type slowCommit struct {
	*store.Store
	wait time.Duration
}

func (s slowCommit) ProposeIncidents(ctx context.Context, c *mxv1.CorrelateIncidents) (store.CorrelateResult, error) {
	time.Sleep(s.wait)
	return s.Store.ProposeIncidents(ctx, c)
}

// The loop paces by a round's computation, not by the wait for its
// proposal to commit (which costs the leader no CPU): a round's Compute
// ends before its proposal, and after a round that waited long on its
// commit the next may start busyFactor times its computation later, not
// busyFactor times the whole round.
func TestLoopPacesByComputeNotCommit(t *testing.T) {
	st := storetest.Open(t)
	ctx := t.Context()
	hello := &mxv1.Hello{AgentId: "edge1", Site: "hq", Hostname: "edge1.contoso.com"}
	if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: hello}}}); err != nil {
		t.Fatal(err)
	}
	f := storeCertFinding(finding.CertNoPrivateKey, crit, "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C", "CN=edge1.contoso.com", "CN=CA", "edge1.contoso.com", time.Now().Add(90*24*time.Hour))
	b := &mxv1.ResultBatch{Seq: 1, SentAt: timestamppb.Now(), Results: []*mxv1.CheckResult{{Check: "certstore", Target: "store", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, StartedAt: timestamppb.Now(), Findings: []*mxv1.Finding{f}}}}
	if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{AgentId: "edge1", Batch: b}}}}}); err != nil {
		t.Fatal(err)
	}
	const wait = 100 * time.Millisecond
	loop := NewLoop(slowCommit{st, wait}, LoopConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rs, err := loop.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Upserts == 0 || rs.Applied == 0 {
		t.Fatalf("round %+v: want the keyless certificate's incident proposed and applied", rs)
	}
	if rs.Compute <= 0 || rs.Duration < rs.Compute+wait {
		t.Errorf("round took %v with compute %v: the %v commit wait must be outside the computation", rs.Duration, rs.Compute, wait)
	}
	start := time.Now()
	if got, want := nextRound(start, RoundStats{Duration: time.Second, Compute: 10 * time.Millisecond}), start.Add(busyFactor*10*time.Millisecond); !got.Equal(want) {
		t.Errorf("after a 1 s round that computed for 10 ms the next may start %v later, want %v", got.Sub(start), want.Sub(start))
	}
}
