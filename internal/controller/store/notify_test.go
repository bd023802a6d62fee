package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// The notification outbox is applied deterministically, compare-and-set on
// cursors, and survives a snapshot round trip.
func TestNotifyApplyDeterministicAndSnapshot(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	cmds := []*mxv1.Command{
		{Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "inc-1", Fingerprint: "fp1", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN}}}}},
		{Kind: &mxv1.Command_NotifyEnqueue{NotifyEnqueue: &mxv1.NotifyEnqueue{
			Cursors:    []*mxv1.NotifyCursor{{IncidentId: "inc-1", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN}},
			Deliveries: []*mxv1.Delivery{{Id: "a/e1", Target: "a", Event: &mxv1.NotificationEvent{Id: "e1", IncidentId: "inc-1"}}, {Id: "b/e1", Target: "b", Event: &mxv1.NotificationEvent{Id: "e1", IncidentId: "inc-1"}}},
		}}},
		// Stale cursor: rejected as a whole.
		{Kind: &mxv1.Command_NotifyEnqueue{NotifyEnqueue: &mxv1.NotifyEnqueue{
			Cursors:    []*mxv1.NotifyCursor{{IncidentId: "inc-1", Sequence: 1}},
			Deliveries: []*mxv1.Delivery{{Id: "a/dup", Target: "a"}},
		}}},
		{Kind: &mxv1.Command_NotifyOutcome{NotifyOutcome: &mxv1.NotifyOutcome{DeliveryId: "a/e1", Status: mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED, Attempts: 2, HttpStatus: 200}}},
		{Kind: &mxv1.Command_NotifyOutcome{NotifyOutcome: &mxv1.NotifyOutcome{DeliveryId: "b/e1", Status: mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED, Attempts: 1, HttpStatus: 410, LastError: "HTTP 410"}}},
		{Kind: &mxv1.Command_NotifyTargetState{NotifyTargetState: &mxv1.NotifyTargetState{Target: "b", Disabled: true, Reason: "410 Gone"}}},
		{Kind: &mxv1.Command_NotifyRedeliver{NotifyRedeliver: &mxv1.NotifyRedeliver{DeliveryIds: []string{"a/e1"}, Actor: "x"}}},
		{Kind: &mxv1.Command_NotifyRedeliver{NotifyRedeliver: &mxv1.NotifyRedeliver{DeliveryIds: []string{"b/e1"}, Actor: "alice"}}},
	}
	run := func() (*State, []any) {
		f := &fsm{state: newState(), log: quietLog()}
		var res []any
		for i, c := range cmds {
			c = proto.CloneOf(c)
			c.ProposedAt = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
			b, err := encodeCommand(c)
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}))
		}
		return f.state, res
	}
	st, res := run()
	if !errors.Is(res[2].(NotifyResult).Err, ErrNotifyStale) || st.Delivery("a/dup") != nil {
		t.Fatalf("stale enqueue applied: %v", res[2])
	}
	if !errors.Is(res[6].(NotifyResult).Err, ErrDeliveryNotRedeliver) || res[7].(NotifyResult).Err != nil {
		t.Fatalf("redeliver results %v %v", res[6], res[7])
	}
	a, b := st.Delivery("a/e1"), st.Delivery("b/e1")
	if a.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED || a.GetAttempts() != 2 || a.GetOrder() != 1 ||
		b.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING || b.GetOrder() != 2 || !st.NotifyTarget("b").GetDisabled() {
		t.Fatalf("state a=%v b=%v", a, b)
	}
	st2, _ := run()
	x, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st.snapshot())
	y, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st2.snapshot())
	if string(x) != string(y) {
		t.Fatal("replicas diverged")
	}
	restored := newState()
	restored.restore(st.snapshot())
	z, _ := proto.MarshalOptions{Deterministic: true}.Marshal(restored.snapshot())
	if string(x) != string(z) || fmt.Sprint(restored.notify.order) != "2" {
		t.Fatal("snapshot round trip lost notification state")
	}
}
