package store

import (
	"bytes"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrIdempotencyConflict: an idempotency key was used again with a
// different request.
var ErrIdempotencyConflict = errors.New("store: idempotency key already used with a different request")

const (
	// idempotencyTTL is how long a key answers retries.
	idempotencyTTL = 24 * time.Hour
	// maxIdempotencyRecords bounds the table; the oldest go first.
	maxIdempotencyRecords = 10000
)

// idempotencyState replicates clients' idempotency keys for incident writes
// (acknowledge, resolve, external references), so a retry through another
// node, or after a failover, is answered instead of acting twice. Expiry
// uses command time, so every replica drops the same records.
type idempotencyState struct {
	byScope map[string]*mxv1.IdempotencyRecord
	order   []*mxv1.IdempotencyRecord // oldest first
}

func newIdempotencyState() idempotencyState {
	return idempotencyState{byScope: map[string]*mxv1.IdempotencyRecord{}}
}

// prune drops expired records and keeps at most maxIdempotencyRecords.
func (is *idempotencyState) prune(now time.Time) {
	i := 0
	for ; i < len(is.order); i++ {
		r := is.order[i]
		if len(is.order)-i <= maxIdempotencyRecords && now.Sub(r.GetAt().AsTime()) < idempotencyTTL {
			break
		}
		if cur := is.byScope[string(r.GetScope())]; cur == r {
			delete(is.byScope, string(r.GetScope()))
		}
	}
	if i > 0 {
		is.order = append([]*mxv1.IdempotencyRecord(nil), is.order[i:]...)
	}
}

// check looks up a write's key (caller holds the state lock). done: the
// key answered before (replay with the record, or a conflict error).
func (is *idempotencyState) check(idem *mxv1.Idempotency, at *timestamppb.Timestamp) (rec *mxv1.IdempotencyRecord, done bool, err error) {
	if len(idem.GetScope()) == 0 {
		return nil, false, nil
	}
	is.prune(at.AsTime())
	rec = is.byScope[string(idem.GetScope())]
	if rec == nil {
		return nil, false, nil
	}
	if !bytes.Equal(rec.GetRequestDigest(), idem.GetRequestDigest()) {
		return nil, true, ErrIdempotencyConflict
	}
	return rec, true, nil
}

// remember records what a write with a key produced.
func (is *idempotencyState) remember(idem *mxv1.Idempotency, inc *mxv1.Incident, at *timestamppb.Timestamp) {
	if len(idem.GetScope()) == 0 || inc == nil {
		return
	}
	r := &mxv1.IdempotencyRecord{Scope: idem.GetScope(), RequestDigest: idem.GetRequestDigest(), IncidentId: inc.GetId(), Sequence: inc.GetSequence(), At: at}
	is.byScope[string(r.Scope)] = r
	is.order = append(is.order, r)
}

// replay answers a repeated write from its record (caller holds the lock).
func (s *State) replayLocked(rec *mxv1.IdempotencyRecord) ActionResult {
	inc := s.incidents.byID[rec.GetIncidentId()]
	if inc == nil {
		return ActionResult{Err: ErrIdempotencyGone}
	}
	return ActionResult{Incident: inc, Replayed: true}
}

// ErrIdempotencyGone: the key's incident has since been dropped (retention).
var ErrIdempotencyGone = errors.New("store: the incident this idempotency key acted on no longer exists")

func idempotencyFromSnapshot(snap *mxv1.StateSnapshot) idempotencyState {
	is := newIdempotencyState()
	for _, r := range snap.GetIdempotencyRecords() {
		is.byScope[string(r.GetScope())] = r
		is.order = append(is.order, r)
	}
	return is
}
