package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// ErrStopped: the committer is no longer running.
var ErrStopped = errors.New("ingest: committer stopped")

// ErrEarlierFailed: an earlier batch of the same stream failed to commit,
// so this one was not proposed (committing it would make the earlier one's
// resend look like a replay, losing it).
var ErrEarlierFailed = errors.New("ingest: an earlier batch of this stream failed to commit")

// Applier proposes commands (the session registers agents with it).
type Applier interface {
	Apply(ctx context.Context, cmd *mxv1.Command) (any, error)
}

// BatchApplier is the part of the store the committer needs: IngestBatches
// entries carrying the batches' bytes as they arrived, proposed together
// and each committed or failed on its own (store.ApplyIngestEntries).
type BatchApplier interface {
	ApplyIngestEntries(ctx context.Context, entries [][]store.EncodedBatch) []error
}

// CommitterConfig bounds a group commit.
type CommitterConfig struct {
	// MaxWait is how long the first batch of a group waits for company.
	MaxWait time.Duration
	// MaxBytes bounds the encoded size of one group.
	MaxBytes int
	// MaxBatches bounds the number of agent batches per group.
	MaxBatches int
	// MaxEntryBytes bounds the encoded size of one raft entry of a group
	// (default store.IngestEntryBytes) where the streams allow: a stream's
	// batches of one group share an entry, however large.
	MaxEntryBytes int
}

type pending struct {
	eb    store.EncodedBatch
	size  int
	chain *Chain
	done  chan error
}

// Chain is one stream's batches in the committer: once one of them fails to
// commit, the committer fails the chain's later batches without proposing
// them. The FSM applies a batch only when its sequence is above the agent's
// last committed one, so committing batch n+1 after n failed would turn n's
// resend into a "replay" and lose it. Only Run's goroutine reads or writes
// failed.
type Chain struct{ failed bool }

// Committer group-commits agent batches into raft.
type Committer struct {
	cfg     CommitterConfig
	store   BatchApplier
	in      chan *pending
	metrics *Metrics
}

// NewCommitter returns a committer; call Run to start it.
func NewCommitter(st BatchApplier, cfg CommitterConfig, m *Metrics) *Committer {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = 1024
	}
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = store.IngestEntryBytes
	}
	return &Committer{cfg: cfg, store: st, in: make(chan *pending, cfg.MaxBatches), metrics: m}
}

// Submit queues one agent batch and waits until it is committed (or ctx
// ends). raw is the batch's wire encoding as received (nil: encode b); the
// raft entry carries it as is, so it must be exactly what b was decoded from.
func (c *Committer) Submit(ctx context.Context, agentID string, b *mxv1.ResultBatch, raw []byte) error {
	done, err := c.Enqueue(ctx, nil, agentID, b, raw)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues one agent batch of chain (nil: none) without waiting for
// its commit: the returned channel yields its outcome once. Batches of one
// chain are committed in the order they were enqueued, and after one of
// them fails the later ones fail with ErrEarlierFailed.
func (c *Committer) Enqueue(ctx context.Context, chain *Chain, agentID string, b *mxv1.ResultBatch, raw []byte) (<-chan error, error) {
	eb := store.EncodedBatch{AgentID: agentID, Batch: b, Raw: raw}
	p := &pending{eb: eb, size: eb.Size(), chain: chain, done: make(chan error, 1)}
	select {
	case c.in <- p:
		return p.done, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// admit reports whether p may join a group: false (and p answered) when an
// earlier batch of its chain failed.
func admit(p *pending) bool {
	if p.chain != nil && p.chain.failed {
		p.done <- ErrEarlierFailed
		return false
	}
	return true
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
		if !admit(first) {
			continue
		}
		group := []*pending{first}
		size := first.size
		timer := time.NewTimer(c.cfg.MaxWait)
	gather:
		for len(group) < c.cfg.MaxBatches && size < c.cfg.MaxBytes {
			select {
			case p := <-c.in:
				if !admit(p) {
					continue
				}
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

// commit proposes group as entries (split) and answers each batch with its
// entry's outcome.
func (c *Committer) commit(ctx context.Context, group []*pending) {
	entries := c.split(group)
	batches := make([][]store.EncodedBatch, len(entries))
	for i, e := range entries {
		batches[i] = make([]store.EncodedBatch, len(e))
		for j, p := range e {
			batches[i][j] = p.eb
		}
	}
	start := time.Now()
	errs := c.store.ApplyIngestEntries(ctx, batches)
	if c.metrics != nil {
		c.metrics.applyLatency.Observe(time.Since(start).Seconds())
	}
	for i, e := range entries {
		err := errs[i]
		if err != nil && !errors.Is(err, store.ErrNotLeader) {
			err = fmt.Errorf("ingest: commit %d batches: %w", len(e), err)
		}
		if err == nil && c.metrics != nil {
			c.metrics.batchesCommitted.Add(float64(len(e)))
			c.metrics.entriesCommitted.Inc()
			for _, p := range e {
				c.metrics.resultsCommitted.Add(float64(len(p.eb.Batch.GetResults())))
			}
		}
		for _, p := range e {
			if err != nil && p.chain != nil {
				p.chain.failed = true
			}
			p.done <- err
		}
	}
}

// split divides a group into raft entries of at most cfg.MaxEntryBytes
// (store.IngestEntryBytes says why entries stay small) and keeps each
// chain's batches together, in their order, in one entry: the entries of
// a group commit or fail one by one, and a chain's batch must not commit
// after an earlier one of it failed (Chain). A batch without a chain is a
// unit of its own; units keep the order of their first batch.
func (c *Committer) split(group []*pending) [][]*pending {
	unit := make([]int, len(group)) // index of the unit's first batch
	first := make(map[*Chain]int, len(group))
	for i, p := range group {
		unit[i] = i
		if p.chain == nil {
			continue
		}
		if j, ok := first[p.chain]; ok {
			unit[i] = j
		} else {
			first[p.chain] = i
		}
	}
	order := make([]int, len(group))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(unit[a], unit[b]) })
	var entries [][]*pending
	var cur []*pending
	size := 0
	for k := 0; k < len(order); {
		// One unit: order[k:end].
		end, usize := k, 0
		for end < len(order) && unit[order[end]] == unit[order[k]] {
			usize += group[order[end]].size
			end++
		}
		if len(cur) > 0 && size+usize > c.cfg.MaxEntryBytes {
			entries = append(entries, cur)
			cur, size = nil, 0
		}
		for _, i := range order[k:end] {
			cur = append(cur, group[i])
		}
		size += usize
		k = end
	}
	if len(cur) > 0 {
		entries = append(entries, cur)
	}
	return entries
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
