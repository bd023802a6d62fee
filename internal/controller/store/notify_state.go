package store

import (
	"errors"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Retention of finished deliveries, measured against the proposing
// command's time (deterministic).
const (
	deliveredRetention = 24 * time.Hour
	failedRetention    = 7 * 24 * time.Hour
)

// Errors answered by notification commands.
var (
	ErrNotifyStale          = errors.New("store: notification cursor is stale")
	ErrDeliveryNotFound     = errors.New("store: delivery not found")
	ErrDeliveryNotRedeliver = errors.New("store: only failed deliveries can be redelivered")
)

// notifyState is the replicated notification outbox: deliveries
// by id, what was last enqueued per incident, and target status. Stored
// messages are immutable: changes replace them.
type notifyState struct {
	deliveries map[string]*mxv1.Delivery
	cursors    map[string]*mxv1.NotifyCursor
	targets    map[string]*mxv1.NotifyTargetStatus
	order      uint64
}

func newNotifyState() notifyState {
	return notifyState{deliveries: map[string]*mxv1.Delivery{}, cursors: map[string]*mxv1.NotifyCursor{}, targets: map[string]*mxv1.NotifyTargetStatus{}}
}

// NotifyResult is the FSM's answer to a notification command.
type NotifyResult struct {
	Err error
}

func (s *State) applyNotify(cmd *mxv1.Command) NotifyResult {
	at := cmd.GetProposedAt()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := &s.notify
	switch k := cmd.GetKind().(type) {
	case *mxv1.Command_NotifyEnqueue:
		for _, c := range k.NotifyEnqueue.GetCursors() {
			if old := ns.cursors[c.GetIncidentId()]; old != nil && old.GetSequence() >= c.GetSequence() {
				return NotifyResult{Err: ErrNotifyStale}
			}
		}
		for _, c := range k.NotifyEnqueue.GetCursors() {
			ns.cursors[c.GetIncidentId()] = c
		}
		for _, d := range k.NotifyEnqueue.GetDeliveries() {
			if d.GetId() == "" {
				continue
			}
			if _, ok := ns.deliveries[d.GetId()]; ok {
				continue
			}
			ns.order++
			d = proto.CloneOf(d)
			d.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING
			d.EnqueuedAt, d.UpdatedAt, d.Order = at, at, ns.order
			ns.deliveries[d.GetId()] = d
		}
		s.pruneNotifyLocked(at)
	case *mxv1.Command_NotifyOutcome:
		o := k.NotifyOutcome
		old := ns.deliveries[o.GetDeliveryId()]
		if old == nil {
			return NotifyResult{Err: ErrDeliveryNotFound}
		}
		if old.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING {
			// A finished delivery stays finished (an outcome from a deposed
			// leader arriving after the new one's).
			return NotifyResult{}
		}
		d := proto.CloneOf(old)
		d.Status, d.Attempts, d.LastError, d.LastHttpStatus, d.UpdatedAt = o.GetStatus(), o.GetAttempts(), o.GetLastError(), o.GetHttpStatus(), at
		d.NextAttemptAt = nil
		if o.GetStatus() == mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING {
			d.NextAttemptAt = o.GetNextAttemptAt()
		}
		ns.deliveries[d.GetId()] = d
		if o.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED && o.GetLastError() != "" {
			ns.countFailure(d.GetTarget(), o.GetStatus() == mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED, o.GetLastError(), at)
		}
	case *mxv1.Command_NotifyTargetState:
		t := k.NotifyTargetState
		ts := &mxv1.NotifyTargetStatus{}
		if prev := ns.targets[t.GetTarget()]; prev != nil {
			ts = proto.CloneOf(prev)
		}
		ts.Name, ts.Disabled, ts.Reason, ts.ChangedAt = t.GetTarget(), t.GetDisabled(), t.GetReason(), at
		ns.targets[t.GetTarget()] = ts
	case *mxv1.Command_NotifyRedeliver:
		for _, id := range k.NotifyRedeliver.GetDeliveryIds() {
			old := ns.deliveries[id]
			if old == nil {
				return NotifyResult{Err: ErrDeliveryNotFound}
			}
			if sc := k.NotifyRedeliver.GetSiteScope(); sc != "" {
				now := s.incidents.byID[old.GetEvent().GetIncidentId()]
				if !incident.WithinSite(old.GetEvent().GetIncident(), sc) || (now != nil && !incident.WithinSite(now, sc)) {
					return NotifyResult{Err: ErrDeliveryNotFound}
				}
			}
			if old.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED {
				return NotifyResult{Err: ErrDeliveryNotRedeliver}
			}
		}
		for _, id := range k.NotifyRedeliver.GetDeliveryIds() {
			d := proto.CloneOf(ns.deliveries[id])
			// A fresh start: attempts count again and the retry window
			// begins now.
			d.Status, d.UpdatedAt, d.EnqueuedAt, d.Attempts, d.NextAttemptAt = mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING, at, at, 0, nil
			d.LastError = "redelivery requested by " + k.NotifyRedeliver.GetActor()
			ns.deliveries[id] = d
		}
	}
	return NotifyResult{}
}

// countFailure counts a failed attempt (and a delivery given up) on the
// target's status, for the fleet metrics.
func (ns *notifyState) countFailure(target string, gaveUp bool, lastErr string, at *timestamppb.Timestamp) {
	ts := &mxv1.NotifyTargetStatus{Name: target}
	if prev := ns.targets[target]; prev != nil {
		ts = proto.CloneOf(prev)
	}
	ts.FailedAttempts++
	if gaveUp {
		ts.FailedDeliveries++
	}
	ts.LastFailureAt, ts.LastError = at, lastErr
	ns.targets[target] = ts
}

// pruneNotifyLocked drops finished deliveries past retention and cursors of
// incidents that no longer exist.
func (s *State) pruneNotifyLocked(at *timestamppb.Timestamp) {
	now := at.AsTime()
	for id, d := range s.notify.deliveries {
		age := now.Sub(d.GetUpdatedAt().AsTime())
		switch d.GetStatus() {
		case mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED:
			if age > deliveredRetention {
				delete(s.notify.deliveries, id)
			}
		case mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED:
			if age > failedRetention {
				delete(s.notify.deliveries, id)
			}
		}
	}
	for id := range s.notify.cursors {
		if _, ok := s.incidents.byID[id]; !ok {
			delete(s.notify.cursors, id)
		}
	}
}

// NotifyCursor returns what was last enqueued for an incident, or nil.
func (s *State) NotifyCursor(incidentID string) *mxv1.NotifyCursor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify.cursors[incidentID]
}

// NotifyTarget returns a target's replicated status, or nil.
func (s *State) NotifyTarget(name string) *mxv1.NotifyTargetStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify.targets[name]
}

// NotifyTargets lists the targets' replicated status by name.
func (s *State) NotifyTargets() []*mxv1.NotifyTargetStatus {
	s.mu.RLock()
	out := make([]*mxv1.NotifyTargetStatus, 0, len(s.notify.targets))
	for _, t := range s.notify.targets {
		out = append(out, t)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// Delivery returns one delivery, or nil.
func (s *State) Delivery(id string) *mxv1.Delivery {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify.deliveries[id]
}

// Deliveries lists deliveries in enqueue order; target "" and status
// UNSPECIFIED match every one.
func (s *State) Deliveries(target string, status mxv1.DeliveryStatus) []*mxv1.Delivery {
	s.mu.RLock()
	var out []*mxv1.Delivery
	for _, d := range s.notify.deliveries {
		if (target == "" || d.GetTarget() == target) && (status == mxv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED || d.GetStatus() == status) {
			out = append(out, d)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetOrder() < out[j].GetOrder() })
	return out
}

// NotifiableIncidents lists incidents that are not PENDING, by id.
func (s *State) NotifiableIncidents() []*mxv1.Incident {
	s.mu.RLock()
	out := make([]*mxv1.Incident, 0, len(s.incidents.byID))
	for _, inc := range s.incidents.byID {
		if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_PENDING && inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_UNSPECIFIED {
			out = append(out, inc)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}

// snapshot lists the notification state sorted (caller holds s.mu).
func (ns *notifyState) snapshot() ([]*mxv1.Delivery, []*mxv1.NotifyCursor, []*mxv1.NotifyTargetStatus) {
	ds := make([]*mxv1.Delivery, 0, len(ns.deliveries))
	for _, d := range ns.deliveries {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].GetOrder() < ds[j].GetOrder() })
	cs := make([]*mxv1.NotifyCursor, 0, len(ns.cursors))
	for _, c := range ns.cursors {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].GetIncidentId() < cs[j].GetIncidentId() })
	ts := make([]*mxv1.NotifyTargetStatus, 0, len(ns.targets))
	for _, t := range ns.targets {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].GetName() < ts[j].GetName() })
	return ds, cs, ts
}

func notifyFromSnapshot(snap *mxv1.StateSnapshot) notifyState {
	ns := newNotifyState()
	for _, d := range snap.GetDeliveries() {
		ns.deliveries[d.GetId()] = d
		ns.order = max(ns.order, d.GetOrder())
	}
	for _, c := range snap.GetNotifyCursors() {
		ns.cursors[c.GetIncidentId()] = c
	}
	for _, t := range snap.GetNotifyTargets() {
		ns.targets[t.GetName()] = t
	}
	return ns
}
