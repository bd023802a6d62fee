package incident

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func TestUpdateRefs(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC))
	inc := &mxv1.Incident{Id: "inc-1", State: mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED, Sequence: 4,
		Timeline: []*mxv1.TimelineEntry{{Kind: KindOpened}}}
	u := &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"servicenow": "INC0012345", "jira": "OPS-42"},
		Actor: "itsm (for alice)", Comment: "ticket opened", ExpectedSequence: 4}
	next, err := UpdateRefs(inc, u, at)
	if err != nil {
		t.Fatal(err)
	}
	if inc.GetSequence() != 4 || inc.GetExternalRefs() != nil || len(inc.GetTimeline()) != 1 {
		t.Fatal("original modified")
	}
	if next.GetSequence() != 5 || !maps.Equal(next.GetExternalRefs(), u.GetExternalRefs()) || !next.GetUpdatedAt().AsTime().Equal(at.AsTime()) ||
		next.GetState() != inc.GetState() {
		t.Fatalf("next: %v", next)
	}
	e := next.GetTimeline()[1]
	if e.GetKind() != KindExternalRefs || e.GetActor() != "itsm (for alice)" || e.GetSequence() != 5 ||
		e.GetComment() != "set jira=OPS-42, servicenow=INC0012345: ticket opened" {
		t.Fatalf("timeline entry: %v", e)
	}
	// Same refs again: no change, no sequence bump.
	same, err := UpdateRefs(next, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"jira": "OPS-42"}, Actor: "bob"}, at)
	if err != nil || same != next {
		t.Fatalf("no-op update: %v %v", err, same)
	}
	// Change one, remove another.
	chg, err := UpdateRefs(next, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"jira": "", "servicenow": "INC0099999"}, Actor: "bob"}, at)
	if err != nil || chg.GetSequence() != 6 || !maps.Equal(chg.GetExternalRefs(), map[string]string{"servicenow": "INC0099999"}) ||
		chg.GetTimeline()[2].GetComment() != "set servicenow=INC0099999; removed jira" {
		t.Fatalf("change: %v %v", err, chg)
	}
	all, err := UpdateRefs(chg, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"servicenow": ""}}, at)
	if err != nil || all.GetExternalRefs() != nil {
		t.Fatalf("remove all: %v %v", err, all.GetExternalRefs())
	}
	if _, err := UpdateRefs(next, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"jira": "OPS-43"}, ExpectedSequence: 4}, at); !errors.Is(err, ErrStaleSequence) {
		t.Fatalf("stale: %v", err)
	}
	if _, err := UpdateRefs(nil, u, at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, bad := range []map[string]string{nil, {"ServiceNow": "x"}, {"": "x"}, {"jira": "a\nb"}, {"jira": strings.Repeat("x", 257)},
		{strings.Repeat("k", 33): "x"}, {"a b": "x"}} {
		if _, err := UpdateRefs(inc, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: bad}, at); !errors.Is(err, ErrInvalidAction) {
			t.Errorf("%q: %v, want ErrInvalidAction", bad, err)
		}
	}
	full := &mxv1.Incident{Id: "inc-1", ExternalRefs: map[string]string{}}
	for i := range MaxExternalRefs {
		full.ExternalRefs["s"+string(rune('a'+i))] = "x"
	}
	if _, err := UpdateRefs(full, &mxv1.UpdateIncidentRefs{IncidentId: "inc-1", ExternalRefs: map[string]string{"one-more": "x"}}, at); !errors.Is(err, ErrInvalidAction) {
		t.Fatalf("over the bound: %v", err)
	}
}
