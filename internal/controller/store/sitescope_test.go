package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// A site-scoped write is decided in the FSM against the incident as it is
// when applied: one that spread to another site is not found for it, and
// stays unchanged; one within the site is changed.
func TestSiteScopedIncidentWritesCheckedInTheFSM(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	f := &fsm{state: newState(), log: quietLog()}
	applyCmd(t, f, 1, &mxv1.Command{ProposedAt: timestamppb.New(t0), Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{
		{Id: "inc-ams", Fingerprint: "fa", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_ERROR, Sites: []string{"ams"}},
		{Id: "inc-both", Fingerprint: "fb", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_ERROR, Sites: []string{"ams", "lon"}},
	}}}})
	ack := func(idx uint64, id string) ActionResult {
		res, _ := applyCmd(t, f, idx, &mxv1.Command{ProposedAt: timestamppb.New(t0.Add(time.Minute)), Kind: &mxv1.Command_IncidentAction{IncidentAction: &mxv1.IncidentAction{
			IncidentId: id, Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "ams-itsm", SiteScope: "ams"}}}).(ActionResult)
		return res
	}
	if r := ack(2, "inc-both"); !errors.Is(r.Err, incident.ErrNotFound) {
		t.Fatalf("site-scoped acknowledge of a spanning incident: %+v", r)
	}
	refs, _ := applyCmd(t, f, 3, &mxv1.Command{ProposedAt: timestamppb.New(t0.Add(time.Minute)), Kind: &mxv1.Command_UpdateIncidentRefs{UpdateIncidentRefs: &mxv1.UpdateIncidentRefs{
		IncidentId: "inc-both", ExternalRefs: map[string]string{"jira": "OPS-1"}, Actor: "ams-itsm", SiteScope: "ams"}}}).(ActionResult)
	if !errors.Is(refs.Err, incident.ErrNotFound) {
		t.Fatalf("site-scoped refs on a spanning incident: %+v", refs)
	}
	if inc := f.state.Incident("inc-both"); inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || len(inc.GetExternalRefs()) != 0 {
		t.Fatalf("spanning incident changed: %v", inc)
	}
	if r := ack(4, "inc-ams"); r.Err != nil || r.Incident.GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
		t.Fatalf("site-scoped acknowledge of its own site's incident: %+v", r)
	}

	// Redelivery: a failed delivery of an incident that was amsterdam's
	// when delivered but spans sites now is not found for the site's token.
	idx := uint64(5)
	apply := func(cmd *mxv1.Command) any {
		idx++
		cmd.ProposedAt = timestamppb.New(t0.Add(time.Duration(idx) * time.Minute))
		return applyCmd(t, f, idx, cmd)
	}
	apply(&mxv1.Command{Kind: &mxv1.Command_NotifyEnqueue{NotifyEnqueue: &mxv1.NotifyEnqueue{
		Cursors: []*mxv1.NotifyCursor{{IncidentId: "inc-both", Sequence: 1}, {IncidentId: "inc-ams", Sequence: 2}},
		Deliveries: []*mxv1.Delivery{
			{Id: "ops/e-both", Target: "ops", Event: &mxv1.NotificationEvent{Id: "e-both", IncidentId: "inc-both", Incident: &mxv1.Incident{Id: "inc-both", Sites: []string{"ams"}}}},
			{Id: "ops/e-ams", Target: "ops", Event: &mxv1.NotificationEvent{Id: "e-ams", IncidentId: "inc-ams", Incident: &mxv1.Incident{Id: "inc-ams", Sites: []string{"ams"}}}},
		},
	}}})
	for _, id := range []string{"ops/e-both", "ops/e-ams"} {
		apply(&mxv1.Command{Kind: &mxv1.Command_NotifyOutcome{NotifyOutcome: &mxv1.NotifyOutcome{DeliveryId: id, Status: mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED, Attempts: 1}}})
	}
	redeliver := func(id string) error {
		r, _ := apply(&mxv1.Command{Kind: &mxv1.Command_NotifyRedeliver{NotifyRedeliver: &mxv1.NotifyRedeliver{DeliveryIds: []string{id}, Actor: "ams-itsm", SiteScope: "ams"}}}).(NotifyResult)
		return r.Err
	}
	if err := redeliver("ops/e-both"); !errors.Is(err, ErrDeliveryNotFound) {
		t.Fatalf("site-scoped redelivery of a now spanning incident's delivery: %v", err)
	}
	if d := f.state.Delivery("ops/e-both"); d.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED {
		t.Fatalf("refused redelivery changed the delivery: %v", d.GetStatus())
	}
	if err := redeliver("ops/e-ams"); err != nil || f.state.Delivery("ops/e-ams").GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING {
		t.Fatalf("site-scoped redelivery of its own site's delivery: %v", err)
	}
}
