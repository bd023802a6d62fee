package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

const (
	statePending = mxv1.IncidentState_INCIDENT_STATE_PENDING
	stateOpen    = mxv1.IncidentState_INCIDENT_STATE_OPEN
	stateAcked   = mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
	stateResolve = mxv1.IncidentState_INCIDENT_STATE_RESOLVED
)

// present merges a candidate found this round into its stored incident
// (nil: none, or resolved outside the reopen window). It returns the next
// version, or nil when nothing changed.
func (v *view) present(c *candidate, prev *mxv1.Incident) *mxv1.Incident {
	now := ts(v.now)
	newObs := prev == nil || c.lastCommitted.After(prev.GetLastObservedAt().AsTime())
	var next *mxv1.Incident
	var events []*mxv1.TimelineEntry
	event := func(kind, comment string) {
		events = append(events, &mxv1.TimelineEntry{At: now, Kind: kind, Actor: incident.EngineActor, Comment: comment})
	}
	fresh := prev == nil || prev.GetState() == stateResolve && v.now.Sub(prev.GetResolvedAt().AsTime()) > v.cfg.ReopenWindow
	if fresh {
		var occ uint32 = 1
		if prev != nil {
			occ = prev.GetOccurrence() + 1
		}
		next = &mxv1.Incident{
			Id: incident.ID(c.fingerprint, occ), Fingerprint: c.fingerprint, Occurrence: occ,
			State: statePending, FirstSeen: now, Observations: 1,
		}
		prev = nil
	} else {
		next = shallowClone(prev)
		next.Timeline = slices.Clip(next.Timeline)
		next.CleanObservations = 0
		if newObs {
			next.Observations++
		}
	}
	if newObs {
		next.LastSeen = now
	}
	if c.lastCommitted.After(next.GetLastObservedAt().AsTime()) || next.LastObservedAt == nil {
		next.LastObservedAt = ts(c.lastCommitted)
	}
	damped := int(next.GetObservations()) >= v.cfg.OpenAfterObservations || v.now.Sub(next.GetFirstSeen().AsTime()) >= v.cfg.OpenAfter || c.immediate
	switch next.GetState() {
	case statePending:
		if damped {
			next.State, next.OpenedAt = stateOpen, now
			event(incident.KindOpened, c.summary)
		}
	case stateResolve:
		// Within the reopen window: the same incident, once it persists again.
		if c.immediate || int(next.GetObservations()) >= v.cfg.OpenAfterObservations {
			next.State, next.ResolvedAt, next.AcknowledgedAt = stateOpen, nil, nil
			event(incident.KindReopened, c.summary)
		}
	}
	if next.GetState() != stateResolve {
		// A resolved incident whose findings came back for a round, without
		// reopening, keeps what receivers were last shown.
		v.setContent(next, c)
	}
	if prev != nil && prev.GetState() != statePending && next.GetState() != stateResolve {
		if c.severity > prev.GetSeverity() {
			event(incident.KindEscalated, fmt.Sprintf("severity %s -> %s", prev.GetSeverity(), c.severity))
		}
		if added := missing(c.hosts, prev.GetHosts()); len(added) > 0 {
			event(incident.KindObserved, "now also on "+strings.Join(added, ", "))
		} else if added := missing(c.agents, prev.GetAgents()); len(added) > 0 {
			event(incident.KindObserved, "now also observed by "+strings.Join(clip(added, 10), ", "))
		}
		if c.stale && !prev.GetStale() {
			event(incident.KindStale, staleText(c.members))
		}
	}
	return v.commit(prev, next, events)
}

// absent handles a stored incident whose candidate is gone this round:
// pending ones are dropped (a flap), open ones count clean observations and
// resolve after ResolveAfterClean, resolved ones expire after Retention.
func (v *view) absent(prev *mxv1.Incident) (*mxv1.Incident, *mxv1.IncidentRef) {
	now := ts(v.now)
	switch prev.GetState() {
	case statePending:
		return nil, &mxv1.IncidentRef{Id: prev.GetId(), Sequence: prev.GetSequence(), Revision: prev.GetRevision()}
	case stateResolve:
		if v.now.Sub(prev.GetResolvedAt().AsTime()) > v.cfg.Retention {
			return nil, &mxv1.IncidentRef{Id: prev.GetId(), Sequence: prev.GetSequence(), Revision: prev.GetRevision()}
		}
		if prev.GetObservations() > 0 { // a reopen that did not persist
			next := shallowClone(prev)
			next.Observations = 0
			return v.commit(prev, next, nil), nil
		}
		return nil, nil
	}
	immediate := prev.GetCause() == "AGENT_SILENT"
	joined := !immediate && v.reportsJoined(prev)
	clean := v.cleanSince(prev)
	if !clean.After(prev.GetLastObservedAt().AsTime()) && !immediate && !joined {
		return nil, nil // no new result from the members' checks yet
	}
	// A shallow copy: what changes below is replaced in next, never
	// modified where prev shares it (members are cloned before one is
	// replaced; the timeline grows by copy).
	next := shallowClone(prev)
	next.Timeline = slices.Clip(next.Timeline)
	if clean.After(prev.GetLastObservedAt().AsTime()) {
		next.LastObservedAt = ts(clean)
	}
	if !joined {
		next.CleanObservations++
	}
	var events []*mxv1.TimelineEntry
	if next.Stale && int(next.CleanObservations) < v.cfg.ResolveAfterClean && !immediate && !joined {
		if comment := v.freshen(next); comment != "" {
			events = append(events, &mxv1.TimelineEntry{At: now, Kind: incident.KindObserved, Actor: incident.EngineActor, Comment: comment})
		}
	}
	if int(next.CleanObservations) >= v.cfg.ResolveAfterClean || immediate || joined {
		comment := fmt.Sprintf("clean for %d consecutive observations", next.CleanObservations)
		if joined {
			comment = reportsJoinedText
		}
		next.State, next.ResolvedAt, next.Observations = stateResolve, now, 0
		events = append(events, &mxv1.TimelineEntry{At: now, Kind: incident.KindResolved, Actor: incident.EngineActor, Comment: comment})
		next.CleanObservations = 0
		next.Members = slices.Clone(next.Members)
		for i, m := range next.Members {
			if m.GetStale() {
				mm := proto.CloneOf(m)
				mm.Stale = false
				next.Members[i] = mm
			}
		}
		next.Stale = false
	}
	return v.commit(prev, next, events), nil
}

// cleanSince is the newest committed_at among the current results of the
// checks that produced prev's members (zero when none reported since). A
// check its agent no longer runs is clean as of the agent's latest round.
func (v *view) cleanSince(prev *mxv1.Incident) time.Time {
	var newest time.Time
	for _, m := range prev.GetMembers() {
		r := v.result(m.GetAgentId(), m.GetCheck(), m.GetTarget())
		if r == nil {
			if a := v.byID[m.GetAgentId()]; a != nil && a.lastBatch.After(newest) {
				newest = a.lastBatch
			}
			continue
		}
		if t := r.GetCommittedAt().AsTime(); t.After(newest) {
			newest = t
		}
	}
	return newest
}

func (v *view) result(agent, check, target string) *mxv1.StoredResult {
	if v.lookup != nil {
		return v.lookup(agent, check, target)
	}
	i, ok := slices.BinarySearchFunc(v.results, [3]string{agent, check, target}, func(r *mxv1.StoredResult, k [3]string) int {
		if c := strings.Compare(r.GetAgentId(), k[0]); c != 0 {
			return c
		}
		if c := strings.Compare(r.GetResult().GetCheck(), k[1]); c != 0 {
			return c
		}
		return strings.Compare(r.GetResult().GetTarget(), k[2])
	})
	if !ok {
		return nil
	}
	return v.results[i]
}

func (v *view) setContent(next *mxv1.Incident, c *candidate) {
	next.Scope, next.Cause, next.Subject = c.key.scope, c.key.cause, c.key.subject
	next.Severity = c.severity
	next.Summary, next.RootCause, next.Remediation = c.summary, c.root, c.remediation
	next.Direction, next.DirectionDetail = c.dir, c.dirDetail
	next.Agents, next.Hosts, next.Sites = c.agents, c.hosts, c.sites
	next.Members, next.MembersTotal = c.members, uint32(c.total)
	next.Stale = c.stale
}

// commit stamps next as prev's successor (incident.Advance: sequence only
// on material changes, revision always), or returns nil when nothing changed.
func (v *view) commit(prev, next *mxv1.Incident, events []*mxv1.TimelineEntry) *mxv1.Incident {
	return incident.Advance(prev, next, ts(v.now), events)
}

// missing lists the elements of a not in b; both are sorted.
func missing(a, b []string) []string {
	if len(a) == 0 || len(a) == len(b) && &a[0] == &b[0] {
		return nil // the same list (a candidate keeps its sorted sets while they do not change)
	}
	var out []string
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j == len(b) || b[j] != x {
			out = append(out, x)
		}
	}
	return out
}

// shallowClone copies inc's fields, sharing its repeated fields and
// messages: stored incidents are immutable, and present and absent only replace
// fields of the copy (never modifies what it shares), so copying the
// members of an incident it replaces anyway would be wasted work. Field
// by field, not by reflection (a round clones thousands);
// TestShallowCloneCopiesEveryField fails when a field is left out.
func shallowClone(inc *mxv1.Incident) *mxv1.Incident {
	return &mxv1.Incident{
		Id: inc.Id, Fingerprint: inc.Fingerprint, Scope: inc.Scope, Cause: inc.Cause, Subject: inc.Subject, Severity: inc.Severity,
		State: inc.State, Sequence: inc.Sequence, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, OpenedAt: inc.OpenedAt,
		AcknowledgedAt: inc.AcknowledgedAt, ResolvedAt: inc.ResolvedAt, UpdatedAt: inc.UpdatedAt, Summary: inc.Summary,
		RootCause: inc.RootCause, Remediation: inc.Remediation, Direction: inc.Direction, DirectionDetail: inc.DirectionDetail,
		Agents: inc.Agents, Hosts: inc.Hosts, Sites: inc.Sites, Members: inc.Members, MembersTotal: inc.MembersTotal,
		Timeline: inc.Timeline, Observations: inc.Observations, CleanObservations: inc.CleanObservations,
		LastObservedAt: inc.LastObservedAt, Occurrence: inc.Occurrence, Stale: inc.Stale, ExternalRefs: inc.ExternalRefs,
		Revision: inc.Revision,
	}
}
