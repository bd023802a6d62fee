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
	// EntryBytes: the size of the raft entry the round's changes were
	// written as (0: nothing proposed).
	EntryBytes int
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

// triggerFactor paces the rounds a new candidate starts between ticks
// (candidateWatch): no sooner than triggerFactor·d after the previous
// round started, so even a fleet that keeps failing in new ways holds
// correlation to half a core, while a failure arriving after a slow round
// waits for at most about one more computation, not busyFactor of them.
const triggerFactor = 2

// candidatePoll is how often the loop looks, between ticks, at what raft
// applied for a result that could open an incident (a read of the
// applied index, and of the store's change log when it moved).
const candidatePoll = 20 * time.Millisecond

// Loop is the leader-only correlation loop.
type Loop struct {
	src Source
	cfg LoopConfig

	mu sync.Mutex
	// engine keeps what the term's previous round derived; each Run (a new
	// leadership term) starts with a new one, which recomputes everything.
	engine *Engine
	// feed reads the store's change log for the engine's rounds and the
	// candidate watch (a new one with each engine).
	feed *feed
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
//
// A term's first round runs at once. Then a round runs on the Interval's
// tick when raft applied something since the previous one (at least every
// IdleInterval), no sooner than busyFactor times the previous round's
// computation after it started; and between ticks, every candidatePoll,
// when what raft applied holds a result that could open an incident
// (candidateWatch), no sooner than triggerFactor times the previous
// round's computation after it started. Rounds never overlap: what is
// applied during one is seen after it, and any number of candidates found
// meanwhile make one round.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.engine, l.feed = NewEngine(l.cfg.Engine), l.newFeed()
	l.mu.Unlock()
	watchIndex := l.src.AppliedIndex()
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	p := time.NewTicker(candidatePoll)
	defer p.Stop()
	var lastIndex uint64
	var lastRound, notBefore, triggerNotBefore time.Time
	triggered := false
	for first := true; ; first = false {
		tick := first
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				tick = true
			case <-p.C:
			}
		}
		idx := l.src.AppliedIndex()
		if idx != watchIndex {
			watchIndex = idx
			if l.read() {
				triggered = true
			}
		}
		now := time.Now()
		due := tick && !now.Before(notBefore) && (idx != lastIndex || now.Sub(lastRound) >= l.cfg.IdleInterval)
		if !due && !(triggered && !now.Before(triggerNotBefore)) || l.cfg.Hold != nil && l.cfg.Hold() {
			continue
		}
		// This round reads everything applied so far: it covers every
		// candidate found until now.
		triggered = false
		lastRound = now
		lastIndex = idx
		st, err := l.Round(ctx)
		notBefore, triggerNotBefore = nextRound(lastRound, st), lastRound.Add(triggerFactor*st.Compute)
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
		l.engine, l.feed = NewEngine(l.cfg.Engine), l.newFeed()
	}
	start := time.Now()
	out := l.round()
	st := RoundStats{Results: l.engine.Results(), Candidates: out.Candidates, Upserts: len(out.Upserts), Deletes: len(out.Deletes), Compute: time.Since(start)}
	if !out.Empty() {
		res, err := l.src.ProposeIncidents(ctx, &mxv1.CorrelateIncidents{Upserts: out.Upserts, Deletes: out.Deletes})
		if err != nil {
			return st, err
		}
		st.Applied, st.Rejected, st.EntryBytes = res.Applied, res.Rejected, res.EntryBytes
	}
	st.Duration = time.Since(start)
	if l.cfg.OnRound != nil {
		l.cfg.OnRound(st)
	}
	return st, nil
}

func (l *Loop) newFeed() *feed { return newFeed(l.cfg.Engine.WithDefaults().MinSeverity) }

// read has the feed read what raft applied since its previous read and
// reports whether it holds a candidate (Run, between rounds).
func (l *Loop) read() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.feed == nil {
		return false
	}
	return l.feed.read(l.src.State())
}

// round runs the engine over what changed in the store since its previous
// round: the changes alone when the store's log still held them at every
// read since, else the whole state (compared with the previous round), and
// after the state was replaced (a restore) everything computed again.
func (l *Loop) round() Output {
	in := l.feed.take(l.src.State())
	now := l.cfg.Now()
	in.changes.Now = now
	if !in.full && l.engine.Primed() {
		out, err := l.engine.RoundChanges(in.changes)
		if err == nil {
			return out
		}
		// Not primed after all: read everything.
		in = l.feed.takeFull(l.src.State())
	}
	if in.replaced {
		l.engine.Reset()
	}
	return l.engine.Round(Input{Agents: in.view.Agents, Results: in.view.Results, Incidents: in.view.Incidents, Now: now})
}
