package store

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Upserts are compare-and-set on the sequence; incidents survive a
// snapshot/restore byte for byte.
func TestIncidentApplyAndSnapshot(t *testing.T) {
	s := newState()
	inc := &mxv1.Incident{Id: "inc-a-1", Fingerprint: "fp", Occurrence: 1, Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN}
	if r := s.applyCorrelate(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}}); r.Applied != 1 {
		t.Fatalf("insert: %+v", r)
	}
	stale := proto.CloneOf(inc) // computed from sequence 0 again
	if r := s.applyCorrelate(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{stale}}); r.Rejected != 1 {
		t.Fatalf("stale upsert: %+v", r)
	}
	at := timestamppb.New(timestamppb.Now().AsTime())
	res := s.applyIncidentAction(&mxv1.IncidentAction{IncidentId: "fp", Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "x"}, at)
	if res.Err == nil {
		t.Fatal("action by fingerprint must name the id (the API resolves it)")
	}
	res = s.applyIncidentAction(&mxv1.IncidentAction{IncidentId: "inc-a-1", Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "x"}, at)
	if res.Err != nil || res.Incident.GetSequence() != 2 || !proto.Equal(res.Incident.GetAcknowledgedAt(), at) {
		t.Fatalf("ack: %+v", res)
	}
	if s.Incident("fp").GetId() != "inc-a-1" {
		t.Fatal("lookup by fingerprint")
	}
	snap := s.snapshot()
	s2 := newState()
	s2.restore(snap)
	if !proto.Equal(s2.Incident("inc-a-1"), s.Incident("inc-a-1")) || len(s2.Incidents(incident.Filter{})) != 1 {
		t.Fatal("incident lost in snapshot/restore")
	}
	if r := s2.applyCorrelate(&mxv1.CorrelateIncidents{Deletes: []*mxv1.IncidentRef{{Id: "inc-a-1", Sequence: 1}}}); r.Rejected != 1 {
		t.Fatalf("stale delete: %+v", r)
	}
	if r := s2.applyCorrelate(&mxv1.CorrelateIncidents{Deletes: []*mxv1.IncidentRef{{Id: "inc-a-1", Sequence: 2}}}); r.Applied != 1 || s2.Incident("fp") != nil {
		t.Fatalf("delete: %+v", r)
	}
}
