package incident

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Sentinel errors of the lifecycle; the API maps them to status codes.
var (
	ErrNotFound          = errors.New("incident: not found")
	ErrInvalidTransition = errors.New("incident: invalid state transition")
	ErrStaleSequence     = errors.New("incident: sequence changed")
	ErrInvalidAction     = errors.New("incident: invalid action")
)

// EngineActor is the actor of changes the correlation engine makes.
const EngineActor = "mxprobe"

// MaxTimeline bounds an incident's timeline; the oldest entries after the
// first (opened) are dropped.
const MaxTimeline = 200

// Timeline kinds.
const (
	KindOpened       = "opened"
	KindObserved     = "observed"
	KindEscalated    = "escalated"
	KindAcknowledged = "acknowledged"
	KindResolved     = "resolved"
	KindReopened     = "reopened"
	KindStale        = "stale"
)

// Act applies a human action to an incident at time at (the raft command's
// proposed_at) and returns the changed copy; inc is not modified.
func Act(inc *mxv1.Incident, a *mxv1.IncidentAction, at *timestamppb.Timestamp) (*mxv1.Incident, error) {
	if inc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, a.GetIncidentId())
	}
	if a.GetExpectedSequence() != 0 && a.GetExpectedSequence() != inc.GetSequence() {
		return nil, fmt.Errorf("%w: %s is at sequence %d, not %d", ErrStaleSequence, inc.GetId(), inc.GetSequence(), a.GetExpectedSequence())
	}
	next := proto.CloneOf(inc)
	var kind string
	switch a.GetAction() {
	case mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE:
		if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN {
			return nil, fmt.Errorf("%w: %s is %s; only OPEN incidents can be acknowledged", ErrInvalidTransition, inc.GetId(), StateName(inc.GetState()))
		}
		next.State, next.AcknowledgedAt, kind = mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED, at, KindAcknowledged
	case mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE:
		switch inc.GetState() {
		case mxv1.IncidentState_INCIDENT_STATE_OPEN, mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED:
		default:
			return nil, fmt.Errorf("%w: %s is %s; only OPEN or ACKNOWLEDGED incidents can be resolved", ErrInvalidTransition, inc.GetId(), StateName(inc.GetState()))
		}
		next.State, next.ResolvedAt, kind = mxv1.IncidentState_INCIDENT_STATE_RESOLVED, at, KindResolved
		// A human resolve restarts the damping: the incident reopens only
		// after the findings persist again.
		next.Observations, next.CleanObservations = 0, 0
	default:
		return nil, fmt.Errorf("%w: %v", ErrInvalidAction, a.GetAction())
	}
	next.Sequence++
	next.Revision++
	next.UpdatedAt = at
	AppendTimeline(next, &mxv1.TimelineEntry{At: at, Kind: kind, Actor: a.GetActor(), Comment: a.GetComment(), Sequence: next.Sequence})
	return next, nil
}

// AppendTimeline appends e to inc's timeline (inc must be a private copy),
// keeping it within MaxTimeline.
func AppendTimeline(inc *mxv1.Incident, e *mxv1.TimelineEntry) {
	tl := append(slices.Clip(inc.Timeline), e)
	if len(tl) > MaxTimeline {
		tl = append(tl[:1:1], tl[len(tl)-MaxTimeline+1:]...)
	}
	inc.Timeline = tl
}

// Less orders incidents for listings: worst severity first, then the
// newest (first seen latest), then by id. The keys change only on material
// changes (severity) or never (first_seen, id), so a page cursor on them
// (PageKey) stays valid while incidents are observed round after round.
func Less(a, b *mxv1.Incident) bool {
	return KeyOf(a).Less(KeyOf(b))
}

// PageKey is an incident's position in the listing order.
type PageKey struct {
	Severity  mxv1.Severity
	FirstSeen int64 // unix nanoseconds
	ID        string
}

// KeyOf is inc's position in the listing order.
func KeyOf(inc *mxv1.Incident) PageKey {
	var fs int64
	if t := inc.GetFirstSeen(); t != nil {
		fs = t.AsTime().UnixNano()
	}
	return PageKey{Severity: inc.GetSeverity(), FirstSeen: fs, ID: inc.GetId()}
}

// Less reports whether k sorts before o.
func (k PageKey) Less(o PageKey) bool {
	if k.Severity != o.Severity {
		return k.Severity > o.Severity
	}
	if k.FirstSeen != o.FirstSeen {
		return k.FirstSeen > o.FirstSeen
	}
	return k.ID < o.ID
}

// Brief returns a copy of inc without members and timeline.
func Brief(inc *mxv1.Incident) *mxv1.Incident {
	c := proto.CloneOf(inc)
	c.Members, c.Timeline = nil, nil
	return c
}
