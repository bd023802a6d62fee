package incident

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func TestAdvanceMovesSequenceOnlyOnMaterialChange(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	at := func(m int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(m) * time.Minute)) }
	member := func(observed int) *mxv1.IncidentMember {
		return &mxv1.IncidentMember{AgentId: "a1", Hostname: "edge01", Check: "certstore", Target: "windows:My", Role: "root_cause",
			ObservedAt: at(observed), CommittedAt: at(observed),
			Finding: &mxv1.Finding{Code: "CERT_NO_PRIVATE_KEY", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D",
				Summary: "observed at " + at(observed).AsTime().String(), Evidence: map[string]string{"read_at": at(observed).AsTime().String()}}}
	}
	first := Advance(nil, &mxv1.Incident{Id: "inc-1", State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_CRITICAL,
		Observations: 1, Members: []*mxv1.IncidentMember{member(0)}, LastSeen: at(0)}, at(0),
		[]*mxv1.TimelineEntry{{At: at(0), Kind: KindOpened}})
	if first.GetSequence() != 1 || first.GetRevision() != 1 || !proto.Equal(first.GetUpdatedAt(), at(0)) || first.GetTimeline()[0].GetSequence() != 1 {
		t.Fatalf("first version: %v", first)
	}

	// Observed again: counters, times and the member's evidence move.
	again := proto.CloneOf(first)
	again.Observations, again.LastSeen, again.LastObservedAt = 2, at(1), at(1)
	again.Members = []*mxv1.IncidentMember{member(1)}
	again = Advance(first, again, at(1), nil)
	if again == nil || again.GetSequence() != 1 || again.GetRevision() != 2 || !proto.Equal(again.GetUpdatedAt(), at(0)) {
		t.Fatalf("re-observation: sequence %d revision %d updated %v; want 1, 2, unchanged", again.GetSequence(), again.GetRevision(), again.GetUpdatedAt().AsTime())
	}
	if Material(first, again) {
		t.Error("a re-observation counted as material")
	}

	// Nothing changed at all: nothing to store.
	if same := Advance(again, proto.CloneOf(again), at(2), nil); same != nil {
		t.Fatalf("identical version stored: %v", same)
	}

	// Each material change moves the sequence and updated_at.
	for name, change := range map[string]func(*mxv1.Incident){
		"severity": func(i *mxv1.Incident) { i.Severity = mxv1.Severity_SEVERITY_ERROR },
		"state":    func(i *mxv1.Incident) { i.State = mxv1.IncidentState_INCIDENT_STATE_RESOLVED },
		"scope":    func(i *mxv1.Incident) { i.Scope = mxv1.IncidentScope_INCIDENT_SCOPE_SITE },
		"member": func(i *mxv1.Incident) {
			m := member(1)
			m.AgentId = "a2"
			i.Members = append(i.Members, m)
		},
		"member severity": func(i *mxv1.Incident) {
			m := member(1)
			m.Finding.Severity = mxv1.Severity_SEVERITY_WARNING
			i.Members = []*mxv1.IncidentMember{m}
		},
		"root cause": func(i *mxv1.Incident) { i.RootCause = &mxv1.RootCause{Code: "CERT_EXPIRED"} },
		"refs":       func(i *mxv1.Incident) { i.ExternalRefs = map[string]string{"servicenow": "INC0012345"} },
		"summary":    func(i *mxv1.Incident) { i.Summary = "now on two servers" },
		"stale":      func(i *mxv1.Incident) { i.Stale = true },
	} {
		next := proto.CloneOf(again)
		change(next)
		if !Material(again, next) {
			t.Errorf("%s: not material", name)
			continue
		}
		got := Advance(again, next, at(3), nil)
		if got.GetSequence() != 2 || got.GetRevision() != 3 || !proto.Equal(got.GetUpdatedAt(), at(3)) {
			t.Errorf("%s: sequence %d revision %d updated %v; want 2, 3, %v", name, got.GetSequence(), got.GetRevision(), got.GetUpdatedAt().AsTime(), at(3).AsTime())
		}
	}
	// An event is always material.
	ev := Advance(again, proto.CloneOf(again), at(4), []*mxv1.TimelineEntry{{At: at(4), Kind: KindStale}})
	if ev.GetSequence() != 2 || len(ev.GetTimeline()) != 2 || ev.GetTimeline()[1].GetSequence() != 2 {
		t.Errorf("event: %v", ev)
	}
}

func TestEventTypeFollowsTheStateMachine(t *testing.T) {
	const (
		none     = mxv1.IncidentState_INCIDENT_STATE_UNSPECIFIED
		pending  = mxv1.IncidentState_INCIDENT_STATE_PENDING
		open     = mxv1.IncidentState_INCIDENT_STATE_OPEN
		acked    = mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
		resolved = mxv1.IncidentState_INCIDENT_STATE_RESOLVED
	)
	for _, c := range []struct {
		was, now mxv1.IncidentState
		changed  bool
		want     string
	}{
		{none, pending, true, ""},
		{none, open, true, EventOpened},
		{none, acked, true, EventOpened},
		{none, resolved, true, ""},
		{pending, open, true, EventOpened},
		{open, open, false, ""},
		{open, open, true, EventUpdated},
		{acked, acked, true, EventUpdated},
		{open, acked, false, EventAcknowledged},
		{open, resolved, false, EventResolved},
		{acked, resolved, false, EventResolved},
		{resolved, open, false, EventOpened},
		{resolved, acked, false, EventOpened},
		{acked, open, false, EventOpened},
		// The bug: a resolved incident changing while still resolved said
		// "updated", and PagerDuty triggered.
		{resolved, resolved, true, ""},
		{resolved, resolved, false, ""},
		{open, pending, true, ""},
	} {
		if got := EventType(c.was, &mxv1.Incident{State: c.now}, c.changed); got != c.want {
			t.Errorf("%v -> %v (changed %v): %q, want %q", c.was, c.now, c.changed, got, c.want)
		}
	}
}
