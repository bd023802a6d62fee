package correlate

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Source is the part of the raft store the loop needs.
type Source interface {
	State() *store.State
	AppliedIndex() uint64
	ProposeIncidents(ctx context.Context, c *mxv1.CorrelateIncidents) (store.CorrelateResult, error)
}

// LoopConfig configures the leader's correlation loop.
type LoopConfig struct {
	Engine Config
	// Interval: a round runs at most this often, when the applied raft index
	// moved (default 250ms).
	Interval time.Duration
	// IdleInterval: a round runs at least this often even without new
	// entries, for time-based transitions (damping by time, silence,
	// retention; default 5s).
	IdleInterval time.Duration
	// Now is the leader's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// OnRound, if set, is called after every round (metrics, tests).
	OnRound func(RoundStats)
	// Hold, if set, defers rounds while it returns true (the demo holds
	// correlation until every agent's first batch is committed, so its
	// first incidents are not built from part of the fleet).
	Hold func() bool
}

// RoundStats describes one round.
type RoundStats struct {
	// Duration is the whole round; Compute the part before its proposal
	// (reading the state and the engine's round), which paces the loop.
	Duration, Compute time.Duration
	Results           int
	Candidates        int
	Upserts, Deletes  int
	Applied, Rejected int
}

// busyFactor paces rounds under load: after a round whose computation took
// d, the next starts no sooner than busyFactor·d after it started, so
// correlation takes at most a quarter of a core however large the fleet (a
// 700 ms round over 100k findings runs every 2.8 s instead of back to back)
// while small fleets keep the Interval. The wait for the round's proposal
// to commit (the leader's fsync, the followers') is not part of d: it
// costs this node no CPU, and on a loaded machine it was most of a round,
// so counting it spaced rounds seconds apart and held every new failure
// back by as much (mxbench -mode incident).
const busyFactor = 4

// Loop is the leader-only correlation loop.
type Loop struct {
	src Source
	cfg LoopConfig

	mu sync.Mutex
	// engine keeps what the term's previous round derived; each Run (a new
	// leadership term) starts with a new one, which recomputes everything.
	engine *Engine
	// cursor: where the engine's previous round read the store's change
	// log.
	cursor store.ChangeCursor
}

// NewLoop returns a loop; register its Run with store.OnLeadership.
func NewLoop(src Source, cfg LoopConfig) *Loop {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.IdleInterval <= 0 {
		cfg.IdleInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Loop{src: src, cfg: cfg}
}

// Run correlates until ctx ends (leadership lost). It returns nothing: a
// failed round is logged and retried on the next tick.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.engine = NewEngine(l.cfg.Engine)
	l.cursor = store.ChangeCursor{}
	l.mu.Unlock()
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	var lastIndex uint64
	var lastRound, notBefore time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Now().Before(notBefore) || l.cfg.Hold != nil && l.cfg.Hold() {
			continue
		}
		idx := l.src.AppliedIndex()
		if idx == lastIndex && time.Since(lastRound) < l.cfg.IdleInterval {
			continue
		}
		lastRound = time.Now()
		lastIndex = idx
		st, err := l.Round(ctx)
		notBefore = nextRound(lastRound, st)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrNotLeader) && !errors.Is(err, store.ErrClosed) {
				l.cfg.Logger.Warn("correlation round failed", "err", err)
			}
			continue
		}
		// Our own entry moved the index by one: not new input. Anything
		// else applied meanwhile makes the next tick run again.
		if after := l.src.AppliedIndex(); st.Upserts+st.Deletes > 0 && after == idx+1 {
			lastIndex = after
		}
		if st.Upserts+st.Deletes > 0 {
			l.cfg.Logger.Debug("correlation round", "results", st.Results, "candidates", st.Candidates, "upserts", st.Upserts,
				"deletes", st.Deletes, "rejected", st.Rejected, "took", st.Duration, "compute", st.Compute)
		}
	}
}

// nextRound is the earliest start of the round after one that started at
// start (busyFactor).
func nextRound(start time.Time, st RoundStats) time.Time {
	return start.Add(busyFactor * st.Compute)
}

// Round runs one correlation round now (incrementally, over what changed
// since the term's previous round) and commits its changes.
func (l *Loop) Round(ctx context.Context) (RoundStats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil {
		l.engine = NewEngine(l.cfg.Engine)
	}
	start := time.Now()
	out := l.round()
	st := RoundStats{Results: l.engine.Results(), Candidates: out.Candidates, Upserts: len(out.Upserts), Deletes: len(out.Deletes), Compute: time.Since(start)}
	if !out.Empty() {
		res, err := l.src.ProposeIncidents(ctx, &mxv1.CorrelateIncidents{Upserts: out.Upserts, Deletes: out.Deletes})
		if err != nil {
			return st, err
		}
		st.Applied, st.Rejected = res.Applied, res.Rejected
	}
	st.Duration = time.Since(start)
	if l.cfg.OnRound != nil {
		l.cfg.OnRound(st)
	}
	return st, nil
}

// round runs the engine over what changed in the store since its previous
// round: the changes alone when the store's log still holds them, else
// the whole state (compared with the previous round), and after the
// state was replaced (a restore) everything computed again.
func (l *Loop) round() Output {
	ch := l.src.State().CorrelationChanges(l.cursor)
	l.cursor = ch.Next
	now := l.cfg.Now()
	if !ch.Full && l.engine.Primed() {
		out, err := l.engine.RoundChanges(Changes{Agents: ch.Agents, Results: ch.Results, Incidents: ch.Incidents, RemovedAgents: ch.RemovedAgents,
			RemovedResults: resultRefs(ch.RemovedResults), RemovedIncidents: ch.RemovedIncidents, Now: now})
		if err == nil {
			return out
		}
		// Not primed after all: read everything.
		ch = l.src.State().CorrelationChanges(store.ChangeCursor{})
		l.cursor = ch.Next
	}
	if ch.Replaced {
		l.engine.Reset()
	}
	return l.engine.Round(Input{Agents: ch.View.Agents, Results: ch.View.Results, Incidents: ch.View.Incidents, Now: now})
}

func resultRefs(ks []store.ResultKey) []ResultRef {
	out := make([]ResultRef, len(ks))
	for i, k := range ks {
		out[i] = ResultRef{k.Agent, k.Check, k.Target}
	}
	return out
}
