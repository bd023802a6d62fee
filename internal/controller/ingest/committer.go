package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// ErrStopped: the committer is no longer running.
var ErrStopped = errors.New("ingest: committer stopped")

// Applier is the part of the store the committer needs.
type Applier interface {
	Apply(ctx context.Context, cmd *mxv1.Command) (any, error)
}

// CommitterConfig bounds a group commit.
type CommitterConfig struct {
	// MaxWait is how long the first batch of a group waits for company.
	MaxWait time.Duration
	// MaxBytes bounds the encoded size of one raft entry.
	MaxBytes int
	// MaxBatches bounds the number of agent batches per entry.
	MaxBatches int
}

type pending struct {
	ab   *mxv1.AgentBatch
	size int
	done chan error
}

// Committer group-commits agent batches into raft.
type Committer struct {
	cfg     CommitterConfig
	store   Applier
	in      chan *pending
	metrics *Metrics
}

// NewCommitter returns a committer; call Run to start it.
func NewCommitter(st Applier, cfg CommitterConfig, m *Metrics) *Committer {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = 1024
	}
	return &Committer{cfg: cfg, store: st, in: make(chan *pending, cfg.MaxBatches), metrics: m}
}

// Submit queues one agent batch and waits until it is committed (or ctx ends).
func (c *Committer) Submit(ctx context.Context, agentID string, b *mxv1.ResultBatch) error {
	ab := &mxv1.AgentBatch{AgentId: agentID, Batch: b}
	p := &pending{ab: ab, size: proto.Size(ab), done: make(chan error, 1)}
	select {
	case c.in <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run commits groups until ctx ends. It is the only goroutine that proposes
// IngestBatches commands, so groups are committed in submission order.
func (c *Committer) Run(ctx context.Context) error {
	for {
		var first *pending
		select {
		case <-ctx.Done():
			c.drain(ErrStopped)
			return nil
		case first = <-c.in:
		}
		group := []*pending{first}
		size := first.size
		timer := time.NewTimer(c.cfg.MaxWait)
	gather:
		for len(group) < c.cfg.MaxBatches && size < c.cfg.MaxBytes {
			select {
			case p := <-c.in:
				group = append(group, p)
				size += p.size
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		c.commit(ctx, group)
	}
}

func (c *Committer) commit(ctx context.Context, group []*pending) {
	cmd := &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{}}}
	for _, p := range group {
		cmd.GetIngestBatches().Batches = append(cmd.GetIngestBatches().Batches, p.ab)
	}
	start := time.Now()
	_, err := c.store.Apply(ctx, cmd)
	if c.metrics != nil {
		c.metrics.applyLatency.Observe(time.Since(start).Seconds())
		if err == nil {
			c.metrics.batchesCommitted.Add(float64(len(group)))
			c.metrics.entriesCommitted.Inc()
			for _, p := range group {
				c.metrics.resultsCommitted.Add(float64(len(p.ab.GetBatch().GetResults())))
			}
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotLeader) {
		err = fmt.Errorf("ingest: commit %d batches: %w", len(group), err)
	}
	for _, p := range group {
		p.done <- err
	}
}

func (c *Committer) drain(err error) {
	for {
		select {
		case p := <-c.in:
			p.done <- err
		default:
			return
		}
	}
}
