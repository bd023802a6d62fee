package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// flakyLog is an in-memory twin of the store's ApplyIngest: it fails the
// group proposals listed in fail (by index) and records what it committed.
type flakyLog struct {
	mu        sync.Mutex
	proposals int
	fail      map[int]bool
	committed []string // agent/seq, in commit order
	// gate, when set, holds every proposal until it is closed.
	gate chan struct{}
}

var errRaft = errors.New("raft: leadership lost while committing")

func (f *flakyLog) ApplyIngest(ctx context.Context, batches []store.EncodedBatch) (any, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.proposals
	f.proposals++
	if f.fail[i] {
		return nil, errRaft
	}
	for _, b := range batches {
		f.committed = append(f.committed, fmt.Sprintf("%s/%d", b.AgentID, b.Batch.GetSeq()))
	}
	return nil, nil
}

// Once a batch of a chain fails to commit, the chain's later batches fail
// without being proposed (committing them would turn the failed one's
// resend into a replay), while other chains' batches still commit.
func TestCommitterFailsAChainAfterItsFailedBatch(t *testing.T) {
	log := &flakyLog{fail: map[int]bool{0: true}, gate: make(chan struct{})}
	c := NewCommitter(log, CommitterConfig{MaxBatches: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()

	var a, b Chain
	// One batch per group (MaxBatches 1), enqueued in this order by one
	// goroutine (the queue holds one while the first group waits at the
	// gate): group 0 is a/1 and fails.
	order := []struct {
		ch    *Chain
		agent string
		seq   uint64
	}{{&a, "a", 1}, {&a, "a", 2}, {&b, "b", 1}, {&a, "a", 3}}
	dones := make(chan (<-chan error), len(order))
	go func() {
		for _, o := range order {
			done, err := c.Enqueue(ctx, o.ch, o.agent, &mxv1.ResultBatch{Seq: o.seq}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			dones <- done
		}
	}()
	a1 := <-dones
	close(log.gate)
	a2, b1, a3 := <-dones, <-dones, <-dones
	if err := <-a1; !errors.Is(err, errRaft) {
		t.Fatalf("a/1: %v, want the commit's failure", err)
	}
	for i, done := range []<-chan error{a2, a3} {
		if err := <-done; !errors.Is(err, ErrEarlierFailed) {
			t.Fatalf("a/%d: %v, want ErrEarlierFailed", i+2, err)
		}
	}
	if err := <-b1; err != nil {
		t.Fatalf("b/1 (another stream): %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.committed) != 1 || log.committed[0] != "b/1" || log.proposals != 2 {
		t.Fatalf("committed %v in %d proposals, want only b/1 after the failed a/1", log.committed, log.proposals)
	}
}
