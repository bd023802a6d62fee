package incident

import mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"

// Event types: the change feed (GET /v1/events), Standard Webhooks "type"
// and the notification events all use these names.
const (
	EventOpened       = "incident.opened"
	EventUpdated      = "incident.updated"
	EventAcknowledged = "incident.acknowledged"
	EventResolved     = "incident.resolved"
)

// Unresolved reports whether an incident is OPEN or ACKNOWLEDGED (PENDING is
// still damping, RESOLVED is done): what pages and what counts as open.
func Unresolved(inc *mxv1.Incident) bool {
	return Active(inc.GetState())
}

// Active reports whether a state is OPEN or ACKNOWLEDGED.
func Active(s mxv1.IncidentState) bool {
	return s == mxv1.IncidentState_INCIDENT_STATE_OPEN || s == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
}

// Notifiable reports whether receivers may hear of an incident in state s
// (PENDING and UNSPECIFIED never are).
func Notifiable(s mxv1.IncidentState) bool {
	return s == mxv1.IncidentState_INCIDENT_STATE_OPEN || s == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED ||
		s == mxv1.IncidentState_INCIDENT_STATE_RESOLVED
}

// EventType names the change from a receiver that was last told state was
// (UNSPECIFIED or PENDING: never told) to the incident cur, or "" when
// there is nothing to tell. It follows the state machine exactly:
//
//   - opened: the incident became OPEN or ACKNOWLEDGED from never told,
//     PENDING or RESOLVED (a reopen), or OPEN from ACKNOWLEDGED (only a
//     resolve and a reopen lead there);
//   - acknowledged, resolved: the state changed to it;
//   - updated: a change while OPEN or ACKNOWLEDGED (changed reports
//     whether there was one that receivers show);
//   - nothing for a RESOLVED incident that stays RESOLVED (its finding
//     reappearing for one round inside the reopen window changes counters,
//     not what receivers must show), nor for one resolved before anyone was
//     told.
func EventType(was mxv1.IncidentState, cur *mxv1.Incident, changed bool) string {
	st := cur.GetState()
	if !Notifiable(st) {
		return ""
	}
	told := Notifiable(was)
	switch {
	case !told || was == mxv1.IncidentState_INCIDENT_STATE_RESOLVED:
		if st == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
			return "" // never opened, or still resolved
		}
		return EventOpened
	case st == was:
		if !changed {
			return ""
		}
		return EventUpdated
	case st == mxv1.IncidentState_INCIDENT_STATE_RESOLVED:
		return EventResolved
	case st == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED:
		return EventAcknowledged
	default: // ACKNOWLEDGED -> OPEN: resolved and reopened in between
		return EventOpened
	}
}
