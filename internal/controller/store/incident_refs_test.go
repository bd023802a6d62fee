package store

import (
	"errors"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// External references go through the FSM: sequence, timeline, the
// incident.updated event, no-op updates, errors, snapshot round trip.
func TestIncidentRefsCommand(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	f := &fsm{state: newState(), log: quietLog()}
	open := &mxv1.Incident{Id: "inc-1", Fingerprint: "fp", Sequence: 2, State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_ERROR}
	applyCmd(t, f, 1, &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{
		{Id: "inc-1", Fingerprint: "fp", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_PENDING}}}}})
	applyCmd(t, f, 2, &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{open}}}})
	refs := func(idx uint64, u *mxv1.UpdateIncidentRefs) ActionResult {
		res, _ := applyCmd(t, f, idx, &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_UpdateIncidentRefs{UpdateIncidentRefs: u}}).(ActionResult)
		return res
	}
	want := map[string]string{"servicenow": "INC0012345", "jira": "OPS-42"}
	res := refs(3, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: want, Actor: "itsm", ExpectedSequence: 2})
	if res.Err != nil || res.Incident.GetSequence() != 3 || !maps.Equal(res.Incident.GetExternalRefs(), want) {
		t.Fatalf("update: %+v", res)
	}
	stored := f.state.Incident("inc-1")
	if !proto.Equal(stored, res.Incident) || stored.GetTimeline()[len(stored.GetTimeline())-1].GetActor() != "itsm" {
		t.Fatalf("stored: %v", stored)
	}
	evs, _, _, _ := f.state.Events(0, 0)
	if len(evs) != 2 || evs[1].GetType() != incident.EventUpdated || evs[1].GetSequence() != 3 {
		t.Fatalf("events: %v", evs)
	}
	// No change: same incident, no event.
	if res := refs(4, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"jira": "OPS-42"}, Actor: "itsm"}); res.Err != nil || res.Incident.GetSequence() != 3 {
		t.Fatalf("no-op: %+v", res)
	}
	if evs, _, _, _ := f.state.Events(0, 0); len(evs) != 2 {
		t.Fatalf("no-op emitted an event: %v", evs)
	}
	for i, c := range []struct {
		u    *mxv1.UpdateIncidentRefs
		want error
	}{
		{&mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"jira": "OPS-43"}, ExpectedSequence: 2}, incident.ErrStaleSequence},
		{&mxv1.UpdateIncidentRefs{IncidentId: "inc-9", ExternalRefs: map[string]string{"jira": "OPS-43"}}, incident.ErrNotFound},
		{&mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"Jira": "OPS-43"}}, incident.ErrInvalidAction},
	} {
		if res := refs(uint64(5+i), c.u); !errors.Is(res.Err, c.want) {
			t.Errorf("%d: %v, want %v", i, res.Err, c.want)
		}
	}
	// Snapshot round trip.
	g := &fsm{state: newState(), log: quietLog()}
	g.state.restore(f.state.snapshot())
	if !maps.Equal(g.state.Incident("inc-1").GetExternalRefs(), want) {
		t.Fatal("refs lost in the snapshot")
	}
}
