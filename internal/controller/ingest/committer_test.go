package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// flakyLog is an in-memory twin of the store's ApplyIngestEntries: it
// fails the entries listed in fail (by proposal index, counting entries)
// and records what it committed.
type flakyLog struct {
	mu        sync.Mutex
	proposals int
	fail      map[int]bool
	committed []string   // agent/seq, in commit order
	entries   [][]string // agent/seq of every proposed entry, in order
	// gate, when set, holds every group until it is closed.
	gate chan struct{}
}

var errRaft = errors.New("raft: leadership lost while committing")

func (f *flakyLog) ApplyIngestEntries(ctx context.Context, entries [][]store.EncodedBatch) []error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(entries))
	for e, batches := range entries {
		i := f.proposals
		f.proposals++
		var names []string
		for _, b := range batches {
			names = append(names, fmt.Sprintf("%s/%d", b.AgentID, b.Batch.GetSeq()))
		}
		f.entries = append(f.entries, names)
		if f.fail[i] {
			errs[e] = errRaft
			continue
		}
		f.committed = append(f.committed, names...)
	}
	return errs
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

// A group is split into raft entries of at most MaxEntryBytes, each
// stream's batches together and in order in one entry (the entries commit
// or fail one by one); when one entry fails, its streams' batches fail and
// their later ones are not proposed, while the other entries' streams go
// on.
func TestCommitterSplitsGroupsKeepingEachChainInOneEntry(t *testing.T) {
	const batches = 12
	log := &flakyLog{fail: map[int]bool{}, gate: make(chan struct{})}
	// Group 0 is one batch as large as a group may be (MaxBytes), held at
	// the gate while the next group queues up; that group closes when it
	// holds all of them (MaxBatches), never on time (MaxWait).
	const maxBytes = 1 << 20
	c := NewCommitter(log, CommitterConfig{MaxBatches: batches, MaxBytes: maxBytes, MaxWait: time.Hour, MaxEntryBytes: 400}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	raw := make([]byte, 100) // EncodedBatch.Size: about 130 with the agent id and framing
	enqueueRaw := func(ch *Chain, agent string, seq uint64, raw []byte) <-chan error {
		t.Helper()
		done, err := c.Enqueue(ctx, ch, agent, &mxv1.ResultBatch{Seq: seq}, raw)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	enqueue := func(ch *Chain, agent string, seq uint64) <-chan error { return enqueueRaw(ch, agent, seq, raw) }
	blocker := enqueueRaw(nil, "x", 1, make([]byte, maxBytes))
	chains := map[string]*Chain{"a": {}, "b": {}, "c": {}, "d": {}, "e": {}}
	// a has four batches (more than one entry's bound: an entry of its
	// own), the others one to three, interleaved as streams send.
	order := []string{"a", "b", "a", "c", "b", "d", "a", "e", "c", "a", "b", "d"}
	seqs := map[string]uint64{}
	dones := map[string]<-chan error{}
	for _, agent := range order {
		seqs[agent]++
		dones[fmt.Sprintf("%s/%d", agent, seqs[agent])] = enqueue(chains[agent], agent, seqs[agent])
	}
	// Entry 0 is the blocker's group; fail the entry of the group that
	// holds b.
	log.mu.Lock()
	log.fail[2] = true
	log.mu.Unlock()
	close(log.gate)
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	outcome := map[string]error{}
	for name, done := range dones {
		outcome[name] = <-done
	}
	log.mu.Lock()
	entries := slices.Clone(log.entries[1:])
	log.mu.Unlock()

	home := map[string]int{} // agent -> the entry holding its batches
	for e, names := range entries {
		size := 0
		agents := map[string]bool{}
		for _, n := range names {
			agent, _, _ := strings.Cut(n, "/")
			agents[agent] = true
			if h, ok := home[agent]; ok && h != e {
				t.Fatalf("%s's batches are in entries %d and %d: %v", agent, h, e, entries)
			}
			home[agent] = e
			size += store.EncodedBatch{AgentID: agent, Raw: raw}.Size()
		}
		if size > 400 && len(agents) > 1 {
			t.Fatalf("entry %d holds %v, %d bytes: over MaxEntryBytes with more than one stream", e, names, size)
		}
	}
	for agent, n := range seqs {
		var got []string
		for _, name := range entries[home[agent]] {
			if strings.HasPrefix(name, agent+"/") {
				got = append(got, name)
			}
		}
		if len(got) != int(n) {
			t.Fatalf("%s: entry holds %v, want its %d batches", agent, got, n)
		}
		for i, name := range got {
			if name != fmt.Sprintf("%s/%d", agent, i+1) {
				t.Fatalf("%s's batches in its entry: %v, want them in sequence order", agent, got)
			}
		}
	}
	if len(entries) < 3 {
		t.Fatalf("%d entries %v: the group was not split", len(entries), entries)
	}
	failed := entries[1]
	for name, err := range outcome {
		if slices.Contains(failed, name) != (err != nil) {
			t.Fatalf("%s: %v; the failed entry is %v", name, err, failed)
		}
		if err != nil && !errors.Is(err, errRaft) {
			t.Fatalf("%s: %v, want the entry's failure", name, err)
		}
	}
	// The failed entry's streams propose nothing more; the others do. The
	// streams' next batches and batches without a stream fill the next
	// group (the failed streams' batches are refused, not grouped).
	next := map[string]<-chan error{}
	admitted := 0
	for agent, ch := range chains {
		next[agent] = enqueue(ch, agent, seqs[agent]+1)
		if home[agent] != 1 {
			admitted++
		}
	}
	var fillers []<-chan error
	for i := admitted; i < batches; i++ {
		fillers = append(fillers, enqueue(nil, fmt.Sprintf("filler%d", i), 1))
	}
	for agent, done := range next {
		err := <-done
		wantFailed := home[agent] == 1
		if wantFailed && !errors.Is(err, ErrEarlierFailed) || !wantFailed && err != nil {
			t.Fatalf("%s's next batch (its entry failed: %v): %v", agent, wantFailed, err)
		}
	}
	for _, done := range fillers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
