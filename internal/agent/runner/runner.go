package runner

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/spool"
	"github.com/mxprobe/mxprobe/internal/agent/stream"
)

// Config configures a running agent.
type Config struct {
	Hello       *mxv1.Hello
	Controllers []string
	StateDir    string
	// Checks are the agent's own checks.
	Checks []checks.Check
	// ProbeCheck builds a check for a probe target the controller's plan adds.
	ProbeCheck func(target string, timeout time.Duration) (checks.Check, error)
	// Interval and Jitter apply until the controller's plan arrives.
	Interval, Jitter time.Duration
	DialOptions      []grpc.DialOption
	Logger           *slog.Logger
	// OnRound, if set, sees every round's batch (tests, demo output).
	OnRound func(*mxv1.ResultBatch)
	// SpoolMaxBytes bounds the durable outbox (0: the spool's default).
	SpoolMaxBytes int64
	// AckTimeout: how long a controller may leave Hello or sent batches
	// unanswered before the agent moves to another (0: stream's default).
	AckTimeout time.Duration
	// InFlight: batches sent before waiting for an ack (0: stream's default).
	InFlight int
}

// Runner is a running agent.
type Runner struct {
	cfg    Config
	outbox *spool.Spool
	client *stream.Client
	// sent: store listings already sent (left out while unchanged).
	sent listings

	mu   sync.Mutex
	plan *mxv1.CheckPlan
	kick chan struct{}
}

// New prepares an agent.
func New(cfg Config) (*Runner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	r := &Runner{cfg: cfg, kick: make(chan struct{}, 1)}
	sp, err := spool.Open(filepath.Join(cfg.StateDir, "spool"), spool.Options{MaxBytes: cfg.SpoolMaxBytes, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("runner: open spool: %w", err)
	}
	r.outbox = sp
	r.client, err = stream.NewClient(stream.Config{
		Controllers: cfg.Controllers, Hello: cfg.Hello, Outbox: r.outbox,
		DialOptions: cfg.DialOptions, Logger: cfg.Logger, OnWelcome: r.onWelcome, AckTimeout: cfg.AckTimeout,
		InFlight: cfg.InFlight,
	})
	if err != nil {
		sp.Close()
		return nil, err
	}
	return r, nil
}

// Close releases the spool. Run must have returned.
func (r *Runner) Close() error { return r.outbox.Close() }

// Acked is the highest batch sequence the controller committed.
func (r *Runner) Acked() uint64 { return r.client.Acked() }

func (r *Runner) onWelcome(w *mxv1.Welcome) {
	r.mu.Lock()
	changed := r.plan == nil
	r.plan = w.GetPlan()
	r.mu.Unlock()
	// The controller may know a higher sequence than our state file (state
	// dir lost): never hand out a sequence it already committed.
	if w.GetLastCommittedSeq() > r.outbox.LastSeq() {
		r.outbox.Trim(w.GetLastCommittedSeq())
	}
	// Records found missing at start are lost only if the controller does
	// not have them.
	r.outbox.ResolveMissing(w.GetLastCommittedSeq())
	if changed {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

func (r *Runner) schedule() (interval, jitter, probeTimeout time.Duration, extra []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	interval, jitter = r.cfg.Interval, r.cfg.Jitter
	if p := r.plan; p != nil {
		if d := p.GetInterval().AsDuration(); d > 0 {
			interval = d
		}
		jitter = p.GetJitter().AsDuration()
		probeTimeout = p.GetProbeTimeout().AsDuration()
		extra = p.GetProbeTargets()
	}
	return interval, jitter, probeTimeout, extra
}

// Run runs rounds and streams them until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = r.client.Run(ctx) }()
	defer wg.Wait()

	for {
		r.round(ctx)
		interval, jitter, _, _ := r.schedule()
		wait := interval
		if jitter > 0 {
			wait += rand.N(jitter)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		case <-r.kick:
		}
	}
}

func (r *Runner) round(ctx context.Context) {
	_, _, probeTimeout, extra := r.schedule()
	cs := append([]checks.Check(nil), r.cfg.Checks...)
	if r.cfg.ProbeCheck != nil {
		for _, t := range extra {
			c, err := r.cfg.ProbeCheck(t, probeTimeout)
			if err != nil {
				r.cfg.Logger.Warn("controller plan names a bad probe target", "target", t, "err", err)
				continue
			}
			cs = append(cs, c)
		}
	}
	results := checks.RunAll(ctx, cs, 8)
	if ctx.Err() != nil {
		return
	}
	loss := r.outbox.Loss()
	if lr := r.spoolLoss(loss); lr != nil {
		results = append(results, lr)
	}
	r.sent.elide(results, time.Now())
	// Every batch carries the cumulative loss, so the controller learns
	// the total even if the batch that first reported it is lost too.
	b := &mxv1.ResultBatch{Seq: r.outbox.LastSeq() + 1, SentAt: timestamppb.Now(), Results: results, SpoolLoss: loss.Proto()}
	// The spool persists the batch (and its sequence) before it is sent.
	if err := r.outbox.Append(b); err != nil {
		r.cfg.Logger.Error("spool append failed: this round's results are lost (counted, reported as AGENT_SPOOL_LOSS)", "seq", b.Seq, "err", err)
	}
	if r.cfg.OnRound != nil {
		r.cfg.OnRound(b)
	}
	r.client.Notify()
}
