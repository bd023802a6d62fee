package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Idempotency keys in the FSM: a repeated key answers from its record
// without acting, another request under the key is refused, records
// survive a snapshot, and expire by command time (24 h) on every replica.
func TestIdempotencyRecordsReplayConflictSnapshotExpiry(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	f := &fsm{state: newState(), log: quietLog()}
	applyCmd(t, f, 1, &mxv1.Command{ProposedAt: timestamppb.New(t0), Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{
		{Id: "inc-1", Fingerprint: "fp", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_ERROR}}}}})
	idx := uint64(1)
	act := func(at time.Time, idem *mxv1.Idempotency, kind mxv1.IncidentActionKind) ActionResult {
		idx++
		res, _ := applyCmd(t, f, idx, &mxv1.Command{ProposedAt: timestamppb.New(at), Kind: &mxv1.Command_IncidentAction{IncidentAction: &mxv1.IncidentAction{
			IncidentId: "inc-1", Action: kind, Actor: "itsm", Idempotency: idem}}}).(ActionResult)
		return res
	}
	key := &mxv1.Idempotency{Scope: []byte("scope-1"), RequestDigest: []byte("digest-a")}
	ack := mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE
	first := act(t0, key, ack)
	if first.Err != nil || first.Replayed || first.Incident.GetSequence() != 2 {
		t.Fatalf("first: %+v", first)
	}
	again := act(t0.Add(time.Hour), key, ack)
	if again.Err != nil || !again.Replayed || !proto.Equal(again.Incident, first.Incident) {
		t.Fatalf("replay: %+v", again)
	}
	other := &mxv1.Idempotency{Scope: []byte("scope-1"), RequestDigest: []byte("digest-b")}
	if res := act(t0.Add(time.Hour), other, ack); !errors.Is(res.Err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other request: %+v", res)
	}

	// A replica restored from a snapshot answers the same.
	snap := f.state.snapshot()
	r := &fsm{state: newState(), log: quietLog()}
	r.state.restore(snap)
	if !proto.Equal(r.state.snapshot(), snap) || len(snap.GetIdempotencyRecords()) != 1 {
		t.Fatalf("snapshot round trip: %d records", len(snap.GetIdempotencyRecords()))
	}
	res, _ := applyCmd(t, r, 10, &mxv1.Command{ProposedAt: timestamppb.New(t0.Add(2 * time.Hour)), Kind: &mxv1.Command_IncidentAction{IncidentAction: &mxv1.IncidentAction{
		IncidentId: "inc-1", Action: ack, Actor: "itsm", Idempotency: key}}}).(ActionResult)
	if !res.Replayed {
		t.Fatalf("restored replica: %+v", res)
	}

	// After 24 h the key acts again: here a second acknowledge, which the
	// lifecycle refuses.
	if res := act(t0.Add(25*time.Hour), key, ack); res.Replayed || res.Err == nil {
		t.Fatalf("expired key: %+v", res)
	}
	if n := len(f.state.snapshot().GetIdempotencyRecords()); n != 0 {
		t.Fatalf("%d records after expiry", n)
	}
}

func TestIdempotencyTableIsBounded(t *testing.T) {
	is := newIdempotencyState()
	at := timestamppb.New(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	inc := &mxv1.Incident{Id: "inc-1", Sequence: 2}
	for i := range maxIdempotencyRecords + 50 {
		idem := &mxv1.Idempotency{Scope: []byte{byte(i), byte(i >> 8), byte(i >> 16)}, RequestDigest: []byte("d")}
		if _, done, _ := is.check(idem, at); done {
			t.Fatalf("fresh key %d found", i)
		}
		is.remember(idem, inc, at)
	}
	is.prune(at.AsTime())
	if len(is.order) != maxIdempotencyRecords || len(is.byScope) != maxIdempotencyRecords {
		t.Fatalf("%d / %d records, want %d", len(is.order), len(is.byScope), maxIdempotencyRecords)
	}
	if _, done, _ := is.check(&mxv1.Idempotency{Scope: []byte{0, 0, 0}, RequestDigest: []byte("d")}, at); done {
		t.Fatal("the oldest key survived the bound")
	}
}
