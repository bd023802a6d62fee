package stream

import (
	"errors"
	"sync"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrOutboxFull: the outbox dropped its oldest batch to make room.
var ErrOutboxFull = errors.New("stream: outbox full, oldest batch dropped")

// Outbox holds batches until the controller acknowledges them. Batches are
// kept in sequence order.
type Outbox interface {
	// Append adds a batch whose Seq is above every batch already held.
	Append(b *mxv1.ResultBatch) error
	// Pending returns the held batches with Seq > after, in order.
	Pending(after uint64) []*mxv1.ResultBatch
	// Trim drops every batch with Seq <= upTo.
	Trim(upTo uint64)
	// LastSeq is the highest sequence ever appended (0 if none).
	LastSeq() uint64
}

// MemOutbox is a bounded in-memory Outbox.
type MemOutbox struct {
	mu      sync.Mutex
	max     int
	batches []*mxv1.ResultBatch
	last    uint64
	dropped int
}

// NewMemOutbox holds at most max batches (oldest dropped first when full).
func NewMemOutbox(max int, lastSeq uint64) *MemOutbox {
	if max <= 0 {
		max = 1024
	}
	return &MemOutbox{max: max, last: lastSeq}
}

func (o *MemOutbox) Append(b *mxv1.ResultBatch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b.GetSeq() <= o.last {
		return errors.New("stream: batch sequence not increasing")
	}
	o.last = b.GetSeq()
	o.batches = append(o.batches, b)
	if len(o.batches) > o.max {
		o.batches = o.batches[1:]
		o.dropped++
		return ErrOutboxFull
	}
	return nil
}

func (o *MemOutbox) Pending(after uint64) []*mxv1.ResultBatch {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*mxv1.ResultBatch
	for _, b := range o.batches {
		if b.GetSeq() > after {
			out = append(out, b)
		}
	}
	return out
}

func (o *MemOutbox) Trim(upTo uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for i < len(o.batches) && o.batches[i].GetSeq() <= upTo {
		i++
	}
	o.batches = append(o.batches[:0:0], o.batches[i:]...)
	if upTo > o.last {
		o.last = upTo
	}
}

func (o *MemOutbox) LastSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// Len is the number of held batches.
func (o *MemOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.batches)
}
