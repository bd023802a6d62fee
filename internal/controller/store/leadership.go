package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// leaderWatch runs leader-only tasks: when this node gains leadership it
// first commits a Barrier (so the FSM has applied everything earlier leaders
// committed), then starts every registered task with a context that is
// cancelled the moment leadership is lost. It also counts leader changes.
type leaderWatch struct {
	notify chan bool
	log    *slog.Logger

	mu      sync.Mutex
	tasks   []func(context.Context)
	cancel  context.CancelFunc
	ctx     context.Context
	running sync.WaitGroup
	changes uint64

	obsCh  chan raft.Observation
	obs    *raft.Observer
	quit   chan struct{}
	loopWG sync.WaitGroup
}

func newLeaderWatch() *leaderWatch {
	return &leaderWatch{notify: make(chan bool, 8), quit: make(chan struct{}), obsCh: make(chan raft.Observation, 16)}
}

func (w *leaderWatch) start(r *raft.Raft, log *slog.Logger) {
	w.log = log
	w.obs = raft.NewObserver(w.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(w.obs)
	w.loopWG.Add(2)
	go func() {
		defer w.loopWG.Done()
		for {
			select {
			case <-w.quit:
				r.DeregisterObserver(w.obs)
				return
			case o := <-w.obsCh:
				lo := o.Data.(raft.LeaderObservation)
				w.mu.Lock()
				w.changes++
				w.mu.Unlock()
				w.log.Info("raft leader changed", "leader", lo.LeaderID, "address", lo.LeaderAddr)
			}
		}
	}()
	go func() {
		defer w.loopWG.Done()
		for {
			select {
			case <-w.quit:
				w.lose()
				return
			case isLeader := <-w.notify:
				if isLeader {
					w.gain(r)
				} else {
					w.lose()
				}
			}
		}
	}()
}

// gain commits a barrier, then starts the leader-only tasks.
func (w *leaderWatch) gain(r *raft.Raft) {
	for {
		err := awaitFuture(context.Background(), w.quit, r.Barrier(10*time.Second))
		if err == nil {
			break
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		if r.State() != raft.Leader {
			return
		}
		w.log.Warn("barrier after gaining leadership failed, retrying", "err", err)
		select {
		case <-w.quit:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for _, t := range w.tasks {
		w.spawn(t)
	}
	w.log.Info("leadership established: leader-only work started")
}

func (w *leaderWatch) spawn(t func(context.Context)) {
	ctx := w.ctx
	w.running.Add(1)
	go func() { defer w.running.Done(); t(ctx) }()
}

func (w *leaderWatch) lose() {
	w.mu.Lock()
	cancel := w.cancel
	w.cancel, w.ctx = nil, nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		w.running.Wait()
		w.log.Info("leadership lost: leader-only work stopped")
	}
}

// add registers a leader-only task; it starts now if leadership is established.
func (w *leaderWatch) add(t func(context.Context)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tasks = append(w.tasks, t)
	if w.cancel != nil {
		w.spawn(t)
	}
}

// ready reports whether leadership is established (barrier done).
func (w *leaderWatch) ready() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancel != nil
}

func (w *leaderWatch) leaderChanges() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changes
}

func (w *leaderWatch) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.loopWG.Wait()
}
