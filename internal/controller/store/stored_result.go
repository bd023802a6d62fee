package store

import (
	"sync/atomic"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/batchpb"
)

// storedResult is the state's latest result of one key. A follower keeps
// an ingested result as the bytes of its raft entry (batchpb.IndexIngest)
// and decodes it the first time something reads it: most results are
// replaced by the agent's next round before anything on a follower reads
// them, and decoding every result of every entry was a third of a
// follower's CPU under full ingest. The leader stores the results it
// validated, already decoded.
//
// get decodes once and keeps the message (an atomic pointer: readers hold
// only the state's read lock), so every reader sees the same
// *mxv1.StoredResult, as the correlation engine, which keys its state by
// the pointer, needs; peek decodes without keeping (snapshots, which
// would otherwise keep every result decoded). Either way the message is
// what applying the decoded command gives, so what is observable (API
// answers, snapshots, the correlation feed) does not depend on which
// node applied the entry or how.
type storedResult struct {
	// msg is the result when it was stored decoded (immutable), else nil
	// and lazy holds it encoded.
	msg  *mxv1.StoredResult
	lazy *lazyResult
}

// lazyResult is a result stored encoded: what the state reads without
// decoding, the encoding, and its decoding once made.
type lazyResult struct {
	decoded atomic.Pointer[mxv1.StoredResult]
	enc     batchpb.EncodedResult
	agentID string
	at      *timestamppb.Timestamp
	history []*mxv1.ResultChange
	status  mxv1.CheckStatus
}

// decodedResult stores an already decoded result.
func decodedResult(sr *mxv1.StoredResult) *storedResult { return &storedResult{msg: sr} }

// newDecodedResult stores a decoded result of agent id committed at at: the
// message and its storedResult in one allocation (applying a batch on the
// leader allocates per result).
func newDecodedResult(id string, r *mxv1.CheckResult, at *timestamppb.Timestamp, history []*mxv1.ResultChange) *storedResult {
	d := &struct {
		storedResult
		m mxv1.StoredResult
	}{}
	d.m.AgentId, d.m.Result, d.m.CommittedAt, d.m.History = id, r, at, history
	d.msg = &d.m
	return &d.storedResult
}

// encodedResult stores a result as its encoding (one allocation).
func encodedResult(agentID string, enc batchpb.EncodedResult, status mxv1.CheckStatus, at *timestamppb.Timestamp, history []*mxv1.ResultChange) *storedResult {
	e := &struct {
		storedResult
		l lazyResult
	}{}
	e.l.enc, e.l.agentID, e.l.at, e.l.history, e.l.status = enc, agentID, at, history, status
	e.lazy = &e.l
	return &e.storedResult
}

// get returns the result, decoding it (once) if need be; nil for nil.
func (r *storedResult) get() *mxv1.StoredResult {
	if r == nil {
		return nil
	}
	if r.msg != nil {
		return r.msg
	}
	l := r.lazy
	if p := l.decoded.Load(); p != nil {
		return p
	}
	l.decoded.CompareAndSwap(nil, l.build())
	return l.decoded.Load()
}

// peek returns the result without keeping a decoding it makes.
func (r *storedResult) peek() *mxv1.StoredResult {
	if r == nil {
		return nil
	}
	if r.msg != nil {
		return r.msg
	}
	if p := r.lazy.decoded.Load(); p != nil {
		return p
	}
	return r.lazy.build()
}

func (l *lazyResult) build() *mxv1.StoredResult {
	return &mxv1.StoredResult{AgentId: l.agentID, Result: l.enc.Decode(), CommittedAt: l.at, History: l.history}
}

// getHistory and getStatus read without decoding (nil-safe).
func (r *storedResult) getHistory() []*mxv1.ResultChange {
	switch {
	case r == nil:
		return nil
	case r.msg != nil:
		return r.msg.GetHistory()
	}
	return r.lazy.history
}

func (r *storedResult) getStatus() mxv1.CheckStatus {
	switch {
	case r == nil:
		return mxv1.CheckStatus_CHECK_STATUS_UNSPECIFIED
	case r.msg != nil:
		return r.msg.GetResult().GetStatus()
	}
	return r.lazy.status
}
