package incident

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// An incident carries two counters. revision goes up on every stored
// change and is the compare-and-set guard between correlation rounds and
// human actions. sequence goes up only on material changes (Material): it
// is what receivers, the ETag and the updated filter follow, so an incident
// that is merely observed again keeps its sequence and its ETag.

// Material reports whether next differs from prev in something a person or
// a receiver acts on: state, severity, scope, cause, subject, summary,
// remediation, direction, root cause, hosts, sites, observing agents, the
// members (which agent saw which finding on which check and target, at which
// severity and role), staleness, external references and the timeline
// (human actions and engine events). Observation counters, last-seen times
// and the members' observation times are not material.
func Material(prev, next *mxv1.Incident) bool {
	if prev == nil || next == nil {
		return prev != next
	}
	return !materialEqual(prev, next)
}

// materialEqual compares the fields materialView keeps, field by field
// (proto.Equal of the two views allocates them and compares large lists
// by reflection; TestMaterialEqualIsEqualOfViews keeps the two the same).
func materialEqual(a, b *mxv1.Incident) bool {
	if a.GetId() != b.GetId() || a.GetFingerprint() != b.GetFingerprint() || a.GetScope() != b.GetScope() || a.GetCause() != b.GetCause() ||
		a.GetSubject() != b.GetSubject() || a.GetSeverity() != b.GetSeverity() || a.GetState() != b.GetState() || a.GetSummary() != b.GetSummary() ||
		a.GetRemediation() != b.GetRemediation() || a.GetDirection() != b.GetDirection() || a.GetDirectionDetail() != b.GetDirectionDetail() ||
		a.GetMembersTotal() != b.GetMembersTotal() || a.GetOccurrence() != b.GetOccurrence() || a.GetStale() != b.GetStale() {
		return false
	}
	if !slices.Equal(a.GetAgents(), b.GetAgents()) || !slices.Equal(a.GetHosts(), b.GetHosts()) || !slices.Equal(a.GetSites(), b.GetSites()) ||
		!maps.Equal(a.GetExternalRefs(), b.GetExternalRefs()) {
		return false
	}
	if !equalMsg(a.GetOpenedAt(), b.GetOpenedAt()) || !equalMsg(a.GetAcknowledgedAt(), b.GetAcknowledgedAt()) ||
		!equalMsg(a.GetResolvedAt(), b.GetResolvedAt()) || !equalMsg(a.GetRootCause(), b.GetRootCause()) {
		return false
	}
	if !slices.EqualFunc(a.GetTimeline(), b.GetTimeline(), equalMsg[*mxv1.TimelineEntry]) {
		return false
	}
	return slices.EqualFunc(a.GetMembers(), b.GetMembers(), func(x, y *mxv1.IncidentMember) bool {
		if x == y {
			return true
		}
		f, g := x.GetFinding(), y.GetFinding()
		return x.GetAgentId() == y.GetAgentId() && x.GetSite() == y.GetSite() && x.GetHostname() == y.GetHostname() && x.GetCheck() == y.GetCheck() &&
			x.GetTarget() == y.GetTarget() && x.GetStale() == y.GetStale() && x.GetRole() == y.GetRole() &&
			f.GetCode() == g.GetCode() && f.GetSeverity() == g.GetSeverity() && f.GetSubject() == g.GetSubject() && f.GetSubjectKind() == g.GetSubjectKind()
	})
}

// equalMsg is proto.Equal with a shortcut for the same message. As fields
// of a message, a nil message and an empty one differ (presence), as
// proto.Equal of the parents would say.
func equalMsg[M interface {
	comparable
	proto.Message
}](x, y M) bool {
	var zero M
	if x == y {
		return true
	}
	if x == zero || y == zero {
		return false
	}
	return proto.Equal(x, y)
}

// observedAgain: next's observation counters or times differ from prev's
// (so next differs from prev without comparing the rest).
func observedAgain(prev, next *mxv1.Incident) bool {
	return prev.GetObservations() != next.GetObservations() || prev.GetCleanObservations() != next.GetCleanObservations() ||
		!equalMsg(prev.GetLastSeen(), next.GetLastSeen()) || !equalMsg(prev.GetLastObservedAt(), next.GetLastObservedAt())
}

// incidentFields is how many fields equal compares (TestEqualIsProtoEqual
// fails when the message gains one).
const incidentFields = 32

// equal is proto.Equal(a, b) for incidents, field by field, with a
// shortcut for shared sub-messages and lists (a new version shares what
// did not change with the one it replaces).
func equal(a, b *mxv1.Incident) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	if !materialEqual(a, b) || a.GetSequence() != b.GetSequence() || a.GetRevision() != b.GetRevision() ||
		a.GetObservations() != b.GetObservations() || a.GetCleanObservations() != b.GetCleanObservations() {
		return false
	}
	if !equalMsg(a.GetFirstSeen(), b.GetFirstSeen()) || !equalMsg(a.GetLastSeen(), b.GetLastSeen()) || !equalMsg(a.GetUpdatedAt(), b.GetUpdatedAt()) ||
		!equalMsg(a.GetLastObservedAt(), b.GetLastObservedAt()) {
		return false
	}
	if !slices.EqualFunc(a.GetMembers(), b.GetMembers(), equalMsg[*mxv1.IncidentMember]) {
		return false
	}
	return string(a.ProtoReflect().GetUnknown()) == string(b.ProtoReflect().GetUnknown())
}

// materialView is the incident reduced to its material fields.
func materialView(inc *mxv1.Incident) *mxv1.Incident {
	v := &mxv1.Incident{
		Id: inc.GetId(), Fingerprint: inc.GetFingerprint(), Scope: inc.GetScope(), Cause: inc.GetCause(), Subject: inc.GetSubject(),
		Severity: inc.GetSeverity(), State: inc.GetState(), OpenedAt: inc.GetOpenedAt(), AcknowledgedAt: inc.GetAcknowledgedAt(),
		ResolvedAt: inc.GetResolvedAt(), Summary: inc.GetSummary(), RootCause: inc.GetRootCause(), Remediation: inc.GetRemediation(),
		Direction: inc.GetDirection(), DirectionDetail: inc.GetDirectionDetail(), Agents: inc.GetAgents(), Hosts: inc.GetHosts(),
		Sites: inc.GetSites(), MembersTotal: inc.GetMembersTotal(), Timeline: inc.GetTimeline(), Occurrence: inc.GetOccurrence(),
		Stale: inc.GetStale(), ExternalRefs: inc.GetExternalRefs(),
	}
	for _, m := range inc.GetMembers() {
		f := m.GetFinding()
		v.Members = append(v.Members, &mxv1.IncidentMember{
			AgentId: m.GetAgentId(), Site: m.GetSite(), Hostname: m.GetHostname(), Check: m.GetCheck(), Target: m.GetTarget(),
			Stale: m.GetStale(), Role: m.GetRole(),
			Finding: &mxv1.Finding{Code: f.GetCode(), Severity: f.GetSeverity(), Subject: f.GetSubject(), SubjectKind: f.GetSubjectKind()},
		})
	}
	return v
}

// Advance stamps next, a private copy derived from prev (nil: a new
// incident), as prev's successor at time at, appending events to its
// timeline. It returns nil when next equals prev (nothing to store). A
// change that is not Material keeps prev's sequence and updated_at and only
// moves revision; anything else, and any event, moves both.
func Advance(prev, next *mxv1.Incident, at *timestamppb.Timestamp, events []*mxv1.TimelineEntry) *mxv1.Incident {
	if prev != nil && len(events) == 0 {
		next.Sequence, next.Revision, next.UpdatedAt = prev.GetSequence(), prev.GetRevision(), prev.GetUpdatedAt()
		// A material change or a moved observation counter makes them
		// differ without comparing the rest.
		material := !materialEqual(prev, next)
		if !material && !observedAgain(prev, next) && equal(prev, next) {
			return nil
		}
		next.Revision = prev.GetRevision() + 1
		if !material {
			return next
		}
	}
	next.Sequence = prev.GetSequence() + 1
	next.Revision = prev.GetRevision() + 1
	next.UpdatedAt = at
	next.Timeline = slices.Clip(next.Timeline)
	for _, e := range events {
		e.Sequence = next.Sequence
		AppendTimeline(next, e)
	}
	return next
}
