package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// recorder is a stream's send side: every answer the pipeline sends.
type recorder struct {
	mu  sync.Mutex
	out []*mxv1.ConnectResponse
}

func (r *recorder) send(m *mxv1.ConnectResponse) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, m)
	return nil
}

func (r *recorder) answers() []*mxv1.ConnectResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*mxv1.ConnectResponse(nil), r.out...)
}

var errCommit = errors.New("commit failed")

func notLeaderAnswer(error) (*mxv1.ConnectResponse, error) {
	return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{}}}, errStreamDone
}

// pushAnswered pushes batches from..to, each already answered with err
// (nil: committed), before the acker can look at them.
func pushAnswered(ctx context.Context, t *testing.T, p *pipeline, from, to uint64, errAt uint64) {
	t.Helper()
	p.mu.Lock() // hold the acker off until every batch is queued
	defer p.mu.Unlock()
	for seq := from; seq <= to; seq++ {
		if !p.reserve(ctx) {
			t.Fatalf("no place in flight for %d", seq)
		}
		done := make(chan error, 1)
		if seq == errAt {
			done <- errCommit
		} else {
			done <- nil
		}
		p.queue = append(p.queue, inflight{seq: seq, done: done})
		if !p.running {
			p.running = true
			p.wg.Add(1)
			go p.ack(ctx)
		}
	}
}

// Batches already committed when the acker gets to them are answered with
// one cumulative Ack of the highest sequence, and their places in flight
// are given back.
func TestPipelineAcksCommittedBatchesTogether(t *testing.T) {
	ctx := t.Context()
	var r recorder
	p := newPipeline(r.send, notLeaderAnswer)
	pushAnswered(ctx, t, p, 1, 5, 0)
	p.wait()
	got := r.answers()
	if len(got) != 1 || got[0].GetAck().GetSeq() != 5 {
		t.Fatalf("answers %v, want one Ack of 5", got)
	}
	if n := len(p.slots); n != 0 {
		t.Fatalf("%d places still taken after every batch was acknowledged", n)
	}
	if err := p.err(); err != nil {
		t.Fatal(err)
	}
}

// A failed batch among committed ones: those before it are acknowledged
// (one Ack of the last of them), nothing at or after it is, and the agent
// is told NotLeader.
func TestPipelineAcksUpToAFailureThenSendsNotLeader(t *testing.T) {
	ctx := t.Context()
	var r recorder
	p := newPipeline(r.send, notLeaderAnswer)
	pushAnswered(ctx, t, p, 1, 6, 4)
	p.wait()
	got := r.answers()
	if len(got) != 2 || got[0].GetAck().GetSeq() != 3 || got[1].GetNotLeader() == nil {
		t.Fatalf("answers %v, want Ack 3 then NotLeader", got)
	}
	if err := p.err(); err == nil {
		t.Fatal("the stream did not fail")
	}
}

// A failure at the head: no Ack at all.
func TestPipelineFailedHeadAcksNothing(t *testing.T) {
	ctx := t.Context()
	var r recorder
	p := newPipeline(r.send, notLeaderAnswer)
	pushAnswered(ctx, t, p, 1, 3, 1)
	p.wait()
	got := r.answers()
	if len(got) != 1 || got[0].GetNotLeader() == nil {
		t.Fatalf("answers %v, want NotLeader alone", got)
	}
}

// Batches whose commits answer one at a time are acknowledged one at a
// time, in order.
func TestPipelineAcksInOrderAsCommitsAnswer(t *testing.T) {
	ctx := t.Context()
	var r recorder
	p := newPipeline(r.send, notLeaderAnswer)
	dones := make([]chan error, 4)
	for i := range dones {
		if !p.reserve(ctx) {
			t.Fatal("no place in flight")
		}
		dones[i] = make(chan error, 1)
		p.push(ctx, uint64(i+1), dones[i])
	}
	for i, d := range dones {
		d <- nil
		waitFor(t, func() bool { return len(r.answers()) == i+1 })
		if got := r.answers()[i].GetAck().GetSeq(); got != uint64(i+1) {
			t.Fatalf("answer %d: Ack %d, want %d", i, got, i+1)
		}
	}
	p.wait()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 100000 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatal("condition not reached")
}
