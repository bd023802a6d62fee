package store

import (
	"errors"
	"fmt"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// incidentState holds incidents by id, and the current occurrence of every
// fingerprint. Stored incidents are immutable: changes replace them.
type incidentState struct {
	byID map[string]*mxv1.Incident
	// byFP maps a fingerprint to the id of its newest occurrence.
	byFP map[string]string
}

func newIncidentState() incidentState {
	return incidentState{byID: map[string]*mxv1.Incident{}, byFP: map[string]string{}}
}

func (is *incidentState) put(inc *mxv1.Incident) {
	is.byID[inc.GetId()] = inc
	if cur, ok := is.byID[is.byFP[inc.GetFingerprint()]]; !ok || cur.GetOccurrence() <= inc.GetOccurrence() {
		is.byFP[inc.GetFingerprint()] = inc.GetId()
	}
}

func (is *incidentState) remove(id string) {
	inc := is.byID[id]
	if inc == nil {
		return
	}
	delete(is.byID, id)
	if is.byFP[inc.GetFingerprint()] == id {
		delete(is.byFP, inc.GetFingerprint())
	}
}

// CorrelateResult is the FSM's answer to a CorrelateIncidents command.
type CorrelateResult struct {
	// Applied counts upserts and deletes applied; Rejected those whose
	// sequence no longer matched (the next round recomputes them).
	Applied, Rejected int
	// EntryBytes is the size of the raft entry the round was written as
	// (set by ProposeIncidents, not by the FSM).
	EntryBytes int
}

// applyCorrelate stores a round's changes, each compare-and-set on the
// incident's revision (which moves on every stored change, while sequence
// moves only on material ones).
func (s *State) applyCorrelate(c *mxv1.CorrelateIncidents) CorrelateResult {
	var res CorrelateResult
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inc := range c.GetUpserts() {
		if inc.GetId() == "" {
			res.Rejected++
			continue
		}
		old := s.incidents.byID[inc.GetId()]
		if inc.GetRevision() == 0 {
			// Written before revisions existed (a replayed log): sequence
			// was the guard then.
			if inc.GetSequence() != old.GetSequence()+1 {
				res.Rejected++
				continue
			}
		} else if inc.GetRevision() != old.GetRevision()+1 {
			res.Rejected++
			continue
		}
		s.incidents.put(inc)
		s.changes.incident(inc.GetId())
		res.Applied++
	}
	for _, d := range c.GetDeletes() {
		old := s.incidents.byID[d.GetId()]
		if old == nil || d.GetRevision() == 0 && old.GetSequence() != d.GetSequence() || d.GetRevision() != 0 && old.GetRevision() != d.GetRevision() {
			res.Rejected++
			continue
		}
		s.incidents.remove(d.GetId())
		s.changes.incident(d.GetId())
		res.Applied++
	}
	return res
}

// ActionResult is the FSM's answer to an IncidentAction command.
type ActionResult struct {
	Incident *mxv1.Incident
	Err      error
	// Replayed: an idempotency key answered; nothing was done again.
	Replayed bool
}

func (s *State) applyIncidentAction(a *mxv1.IncidentAction, at *timestamppb.Timestamp) ActionResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, done, err := s.idempotency.check(a.GetIdempotency(), at); done {
		if err != nil {
			return ActionResult{Err: err}
		}
		return s.replayLocked(rec)
	}
	cur := s.incidents.byID[a.GetIncidentId()]
	if sc := a.GetSiteScope(); sc != "" && cur != nil && !incident.WithinSite(cur, sc) {
		// Checked here, not only by the API, so that a correlation round
		// spreading the incident to another site in between cannot let a
		// site's token change it.
		return ActionResult{Err: fmt.Errorf("%w: %s", incident.ErrNotFound, a.GetIncidentId())}
	}
	next, err := incident.Act(cur, a, at)
	if err != nil {
		return ActionResult{Err: err}
	}
	s.incidents.put(next)
	s.changes.incident(next.GetId())
	s.idempotency.remember(a.GetIdempotency(), next, at)
	return ActionResult{Incident: next}
}

// Incident returns an incident by id, or by fingerprint (its newest
// occurrence); nil when unknown.
func (s *State) Incident(idOrFingerprint string) *mxv1.Incident {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if inc := s.incidents.byID[idOrFingerprint]; inc != nil {
		return inc
	}
	return s.incidents.byID[s.incidents.byFP[idOrFingerprint]]
}

// Incidents lists the incidents f matches, worst and newest first.
func (s *State) Incidents(f incident.Filter) []*mxv1.Incident {
	s.mu.RLock()
	out := make([]*mxv1.Incident, 0, len(s.incidents.byID))
	for _, inc := range s.incidents.byID {
		if f.Match(inc) {
			out = append(out, inc)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return incident.Less(out[i], out[j]) })
	return out
}

// CorrelationView is what one correlation round reads: agents, every
// agent's latest results and all incidents, as stored (immutable; do not
// modify). Order is unspecified: the engine sorts.
type CorrelationView struct {
	Agents    []*mxv1.Agent
	Results   []*mxv1.StoredResult
	Incidents []*mxv1.Incident
}

// CorrelationView copies the references a correlation round needs.
func (s *State) CorrelationView() CorrelationView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.correlationViewLocked()
}

func (s *State) correlationViewLocked() CorrelationView {
	v := CorrelationView{
		Agents:    make([]*mxv1.Agent, 0, len(s.agents)),
		Results:   make([]*mxv1.StoredResult, 0, len(s.results)),
		Incidents: make([]*mxv1.Incident, 0, len(s.incidents.byID)),
	}
	for _, a := range s.agents {
		v.Agents = append(v.Agents, a)
	}
	for _, r := range s.results {
		v.Results = append(v.Results, r.get())
	}
	for _, inc := range s.incidents.byID {
		v.Incidents = append(v.Incidents, inc)
	}
	return v
}

// snapshotIncidents lists incidents sorted by id (caller holds the lock).
func (is *incidentState) snapshot() []*mxv1.Incident {
	out := make([]*mxv1.Incident, 0, len(is.byID))
	for _, inc := range is.byID {
		out = append(out, inc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}

func incidentsFromSnapshot(snap *mxv1.StateSnapshot) incidentState {
	is := newIncidentState()
	for _, inc := range snap.GetIncidents() {
		is.put(inc)
	}
	return is
}

// IncidentError wraps the lifecycle errors the FSM answers with.
func incidentActionError(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{incident.ErrNotFound, incident.ErrInvalidTransition, incident.ErrStaleSequence, incident.ErrInvalidAction, ErrIdempotencyConflict, ErrIdempotencyGone} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("store: incident action: %w", err)
}
