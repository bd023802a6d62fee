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
	decoded atomic.Pointer[mxv1.StoredResult]
	// What the state reads without decoding (the same as decoded's
	// fields when that is set), and the encoding to decode.
	enc     batchpb.EncodedResult
	agentID string
	at      *timestamppb.Timestamp
	history []*mxv1.ResultChange
	status  mxv1.CheckStatus
}

// decodedResult stores an already decoded result.
func decodedResult(sr *mxv1.StoredResult) *storedResult {
	r := &storedResult{agentID: sr.GetAgentId(), at: sr.GetCommittedAt(), history: sr.GetHistory(), status: sr.GetResult().GetStatus()}
	r.decoded.Store(sr)
	return r
}

// newDecodedResult stores a decoded result of agent id committed at at: the
// message and its storedResult in one allocation (applying a batch on the
// leader allocates per result).
func newDecodedResult(id string, r *mxv1.CheckResult, at *timestamppb.Timestamp, history []*mxv1.ResultChange) *storedResult {
	d := &struct {
		storedResult
		msg mxv1.StoredResult
	}{}
	d.msg.AgentId, d.msg.Result, d.msg.CommittedAt, d.msg.History = id, r, at, history
	d.agentID, d.at, d.history, d.status = id, at, history, r.GetStatus()
	d.decoded.Store(&d.msg)
	return &d.storedResult
}

// encodedResult stores a result as its encoding.
func encodedResult(agentID string, enc batchpb.EncodedResult, status mxv1.CheckStatus, at *timestamppb.Timestamp, history []*mxv1.ResultChange) *storedResult {
	return &storedResult{enc: enc, agentID: agentID, at: at, history: history, status: status}
}

// get returns the result, decoding it (once) if need be; nil for nil.
func (r *storedResult) get() *mxv1.StoredResult {
	if r == nil {
		return nil
	}
	if p := r.decoded.Load(); p != nil {
		return p
	}
	r.decoded.CompareAndSwap(nil, r.build())
	return r.decoded.Load()
}

// peek returns the result without keeping a decoding it makes.
func (r *storedResult) peek() *mxv1.StoredResult {
	if r == nil {
		return nil
	}
	if p := r.decoded.Load(); p != nil {
		return p
	}
	return r.build()
}

func (r *storedResult) build() *mxv1.StoredResult {
	return &mxv1.StoredResult{AgentId: r.agentID, Result: r.enc.Decode(), CommittedAt: r.at, History: r.history}
}

// getHistory and getStatus read without decoding (nil-safe).
func (r *storedResult) getHistory() []*mxv1.ResultChange {
	if r == nil {
		return nil
	}
	return r.history
}

func (r *storedResult) getStatus() mxv1.CheckStatus {
	if r == nil {
		return mxv1.CheckStatus_CHECK_STATUS_UNSPECIFIED
	}
	return r.status
}
