package store

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// UpdateIncidentRefs commits a change of an incident's external references
// (leader only) and returns the incident as stored afterwards. Errors wrap
// the incident package's sentinels (ErrNotFound, ErrStaleSequence,
// ErrInvalidAction).
func (s *Store) UpdateIncidentRefs(ctx context.Context, u *mxv1.UpdateIncidentRefs) (inc *mxv1.Incident, replayed bool, err error) {
	return s.applyWrite(ctx, &mxv1.Command{Kind: &mxv1.Command_UpdateIncidentRefs{UpdateIncidentRefs: u}})
}

func (s *State) applyIncidentRefs(u *mxv1.UpdateIncidentRefs, at *timestamppb.Timestamp) ActionResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, done, err := s.idempotency.check(u.GetIdempotency(), at); done {
		if err != nil {
			return ActionResult{Err: err}
		}
		return s.replayLocked(rec)
	}
	cur := s.incidents.byID[u.GetIncidentId()]
	if sc := u.GetSiteScope(); sc != "" && cur != nil && !incident.WithinSite(cur, sc) {
		return ActionResult{Err: fmt.Errorf("%w: %s", incident.ErrNotFound, u.GetIncidentId())}
	}
	next, err := incident.UpdateRefs(cur, u, at)
	if err != nil {
		return ActionResult{Err: err}
	}
	if next != cur {
		s.incidents.put(next)
		s.changes.incident(next.GetId())
	}
	s.idempotency.remember(u.GetIdempotency(), next, at)
	return ActionResult{Incident: next}
}
