package ingest

import (
	"context"
	"sync"

	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// MaxInFlight is how many batches of one stream the server holds between
// receiving and acknowledging them. An agent that sends more is not
// refused: the stream reads nothing more until an ack frees a place, and
// HTTP/2 flow control holds the rest on the agent's side.
const MaxInFlight = 16

// pipeline is one stream's batches between submission to the committer and
// their acknowledgement. The stream's handler goroutine submits (push); an
// acker goroutine, started when the first batch is in flight and gone once
// none is, waits for each commit in submission order and sends an Ack, so
// acks go out strictly in sequence order and an idle stream costs no
// goroutine beyond its handler. An Ack is cumulative: it carries the
// highest sequence of the committed batches at the head of the queue. After the first failure nothing more is
// acknowledged: the acker tells the agent to go elsewhere (NotLeader) and
// the handler ends the stream with the failure at its next read.
type pipeline struct {
	send  func(*mxv1.ConnectResponse) error
	fail  func(error) (*mxv1.ConnectResponse, error)
	slots chan struct{}
	chain Chain

	mu      sync.Mutex
	queue   []inflight
	running bool
	failed  error         // first failure, the stream's end (nil: none)
	stop    chan struct{} // closed with failed
	wg      sync.WaitGroup
}

type inflight struct {
	seq  uint64
	done <-chan error
}

func newPipeline(send func(*mxv1.ConnectResponse) error, fail func(error) (*mxv1.ConnectResponse, error)) *pipeline {
	return &pipeline{send: send, fail: fail, slots: make(chan struct{}, MaxInFlight), stop: make(chan struct{})}
}

// reserve waits for a place in flight; false when the stream failed or ctx
// ended.
func (p *pipeline) reserve(ctx context.Context) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	case <-p.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// release gives back a place reserve took for a batch that was never
// pushed.
func (p *pipeline) release() { <-p.slots }

// push hands a submitted batch to the acker (ctx: the stream's).
func (p *pipeline) push(ctx context.Context, seq uint64, done <-chan error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, inflight{seq: seq, done: done})
	if !p.running {
		p.running = true
		p.wg.Add(1)
		go p.ack(ctx)
	}
}

// err is the stream's failure, if any.
func (p *pipeline) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// wait returns once no acker runs (every pushed batch answered, or the
// stream failed or ctx ended).
func (p *pipeline) wait() { p.wg.Wait() }

func (p *pipeline) ack(ctx context.Context) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(p.queue) == 0 || p.failed != nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		queued := p.queue
		p.mu.Unlock()
		var err error
		select {
		case err = <-queued[0].done:
		case <-ctx.Done():
			// The stream is gone (or the handler ends it): nobody to tell.
			p.end(status.FromContextError(ctx.Err()).Err())
			return
		}
		if err != nil {
			p.failWith(ctx, err)
			return
		}
		// One ack covers every batch up to its sequence (Ack's contract,
		// which agents rely on), so the batches behind the head that are
		// already committed, usually its group commit's companions, are
		// acknowledged with it: one message and one TLS write instead of
		// one each.
		n, later := p.committedAfter(queued)
		if err := p.send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: queued[n-1].seq}}}); err != nil {
			p.end(err)
			return
		}
		p.mu.Lock()
		p.queue = p.queue[n:]
		p.mu.Unlock()
		for range n {
			<-p.slots
		}
		if later != nil {
			// queued[n] failed: those before it are acknowledged, nothing
			// after.
			p.failWith(ctx, later)
			return
		}
	}
}

// committedAfter counts the head of queued (committed) and the batches
// right behind it whose commit has already answered, without waiting; a
// failure among them ends the count and is returned (its outcome is
// consumed).
func (p *pipeline) committedAfter(queued []inflight) (int, error) {
	n := 1
	for n < len(queued) {
		select {
		case err := <-queued[n].done:
			if err != nil {
				return n, err
			}
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// end records the stream's first failure and stops the acker.
func (p *pipeline) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = false
	if p.failed == nil {
		p.failed = err
		close(p.stop)
	}
}

// failWith records the stream's first failure and tells the agent to
// leave: NotLeader, with the leader this node knows, whatever the cause
// (the handler, blocked reading, cannot end the stream before the agent
// sends or leaves).
func (p *pipeline) failWith(ctx context.Context, err error) {
	resp, serr := p.fail(err)
	if serr == nil {
		serr = errStreamDone
	}
	p.end(serr)
	if ctx.Err() == nil && resp != nil {
		_ = p.send(resp)
	}
}
