package store

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Correlation rounds as deltas. A round with 1% of the results changed
// replaces over a thousand incidents, most of them keeping most of their
// (up to 200) members: written whole, its raft entry was 6-10 MB at
// 100,000 open findings, encoded by the leader and decoded by every
// follower each round. So the leader writes a round as a
// CorrelateIncidentsDelta: an upsert that keeps members of the stored
// incident it replaces names them as runs of that incident's members
// (from, count) and carries only the members that are new, and it names
// the large fields that are the stored incident's (keptFields: an
// incident of a whole class of agents lists thousands of agents and
// hosts) instead of carrying them.
//
// The leader diffs against the incident stored at the revision before the
// upsert's (the upsert applies only over that one: compare-and-set), its
// members matched by identity: the engine keeps an unchanged member's
// message, and on the leader the stored incidents are the engine's own
// (the leader's FSM applies the round's CorrelateIncidents itself, handed
// over with the proposal, proposals.go). Every other node, and the leader
// replaying its log, rebuilds each upsert's members from its stored
// incident (expandDelta) and applies the same CorrelateIncidents: the
// state after is the one the full round gives
// (TestDeltaEntriesApplyAsFull). While a server of the configuration has
// not registered that it applies deltas (Features: a node of an older
// release, or one not registered yet) rounds are written whole. Entries
// written whole (older binaries,
// rounds that keep nothing) apply as before; snapshots hold incidents
// whole.

// FeatureCorrelateDelta is the NodeInfo feature of a node that applies
// CorrelateIncidentsDelta entries.
const FeatureCorrelateDelta = "correlate-incidents-delta"

// Features lists the NodeInfo features of this binary (the command kinds
// it applies that older releases do not): a node registers them, and a
// leader writes such entries only when every server lists them.
func Features() []string { return []string{FeatureCorrelateDelta} }

// deltasApply reports whether every server of the raft configuration but
// this one registered FeatureCorrelateDelta (while a rollout mixes
// releases, rounds are written whole: an older node would stop at a
// delta).
func (s *Store) deltasApply() bool {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, sv := range cf.Configuration().Servers {
		if string(sv.ID) != s.cfg.NodeID && !slices.Contains(s.state.Node(string(sv.ID)).GetFeatures(), FeatureCorrelateDelta) {
			return false
		}
	}
	return true
}

// correlateDelta returns c written against the stored incidents, or false
// when no upsert keeps a stored member or field (the entry is then written
// whole).
// words is scratch space (nil: none kept).
func (s *State) correlateDelta(c *mxv1.CorrelateIncidents, words *wordBufs) (*mxv1.CorrelateIncidentsDelta, bool) {
	if words == nil {
		words = &wordBufs{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := &mxv1.CorrelateIncidentsDelta{Upserts: make([]*mxv1.IncidentUpsert, len(c.GetUpserts())), Deletes: c.GetDeletes()}
	kept := false
	for i, inc := range c.GetUpserts() {
		u := &mxv1.IncidentUpsert{Incident: inc}
		d.Upserts[i] = u
		old := s.incidents.byID[inc.GetId()]
		if old == nil || inc.GetRevision() == 0 || inc.GetRevision() != old.GetRevision()+1 {
			continue // new, or rejected by the compare-and-set anyway
		}
		var fields []uint32
		for _, kf := range keptFields {
			if kf.same(inc, old) && !kf.same(inc, &noIncident) {
				fields = append(fields, uint32(kf.num))
			}
		}
		var runs []*mxv1.IncidentMemberRun
		if len(old.GetMembers()) > 0 {
			if r, ok := memberRuns(old.GetMembers(), inc.GetMembers()); ok {
				runs = r
			}
		}
		same := func(num protowire.Number) bool { return slices.Contains(fields, uint32(num)) }
		var agentRuns, hostRuns, remRuns []*mxv1.StringRun
		if !same(fieldIncidentAgents) {
			agentRuns, _ = stringRuns(old.GetAgents(), inc.GetAgents())
		}
		if !same(fieldIncidentHosts) {
			hostRuns, _ = stringRuns(old.GetHosts(), inc.GetHosts())
		}
		if !same(fieldIncidentRemediation) && len(inc.GetRemediation()) > minStringRuns*8 {
			ow, nw := words.get(), words.get()
			*ow, *nw = appendWords(*ow, old.GetRemediation()), appendWords(*nw, inc.GetRemediation())
			remRuns, _ = stringRuns(*ow, *nw)
			words.put(ow)
			words.put(nw)
		}
		if len(fields) == 0 && len(runs) == 0 && agentRuns == nil && hostRuns == nil && remRuns == nil {
			continue
		}
		delta := withoutMembers(inc)
		if runs == nil {
			delta.Members = inc.Members
		}
		for _, num := range fields {
			keptField(num).take(delta, &noIncident)
		}
		if agentRuns != nil {
			delta.Agents = nil
		}
		if hostRuns != nil {
			delta.Hosts = nil
		}
		if remRuns != nil {
			delta.Remediation = ""
		}
		u.Incident, u.MemberRuns, u.KeptFields = delta, runs, fields
		u.AgentRuns, u.HostRuns, u.RemediationRuns = agentRuns, hostRuns, remRuns
		kept = true
	}
	if !kept || len(c.ProtoReflect().GetUnknown()) > 0 {
		return nil, false
	}
	return d, true
}

// run is a run of a list written against an old one: count elements
// of old from index from, then the added ones.
type run[T comparable] struct {
	from, count uint32
	added       []T
}

// runsOf writes list as runs over old (elements matched by ==: identity
// for messages) and counts the elements kept. Unchanged elements mostly
// keep their order and a round changes a few: old's element after the
// previous kept one is tried first, then the next lookahead ones (old's
// elements dropped), then whether it comes a few elements later in list
// (this one added); only when none of that holds, an index of old (built
// once).
func runsOf[T comparable](old, list []T, skip func(T) bool) (runs []run[T], kept int) {
	var index map[T]int
	next := 0
	find := func(i int, e T) int {
		if next < len(old) && old[next] == e {
			return next
		}
		for j := next + 1; j < len(old) && j <= next+lookahead; j++ {
			if old[j] == e {
				return j
			}
		}
		if next < len(old) {
			for j := i + 1; j < len(list) && j <= i+lookahead; j++ {
				if list[j] == old[next] {
					return -1
				}
			}
		}
		if index == nil {
			index = make(map[T]int, len(old))
			for j, oe := range old {
				if _, dup := index[oe]; !dup && !skip(oe) {
					index[oe] = j
				}
			}
		}
		if j, ok := index[e]; ok {
			return j
		}
		return -1
	}
	for i, e := range list {
		k := -1
		if !skip(e) {
			k = find(i, e)
		}
		last := len(runs) - 1
		switch {
		case k >= 0 && last >= 0 && len(runs[last].added) == 0 && int(runs[last].from+runs[last].count) == k:
			runs[last].count++
		case k >= 0:
			runs = append(runs, run[T]{from: uint32(k), count: 1})
		default:
			if last < 0 {
				runs = append(runs, run[T]{})
				last = 0
			}
			runs[last].added = append(runs[last].added, e)
		}
		if k >= 0 {
			kept++
			next = k + 1
		}
	}
	return runs, kept
}

// appendWords appends s's words to dst, each with the space after it (a
// fix's runs are over its words; joined they are s).
func appendWords(dst []string, s string) []string {
	for len(s) > 0 {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return append(dst, s)
		}
		dst, s = append(dst, s[:i+1]), s[i+1:]
	}
	return dst
}

// wordBufs holds a leader's scratch lists of words (a fix that names
// thousands of holders has as many words); the zero value is ready.
type wordBufs struct{ p sync.Pool }

func (w *wordBufs) get() *[]string {
	if b, ok := w.p.Get().(*[]string); ok {
		return b
	}
	return new([]string)
}

func (w *wordBufs) put(b *[]string) {
	clear(*b)
	*b = (*b)[:0]
	w.p.Put(b)
}

// lookahead bounds runsOf's search before it indexes old.
const lookahead = 8

// fromRuns is the list runs give over old; false when a run is out of
// old.
func fromRuns[T comparable](old []T, runs []run[T]) ([]T, bool) {
	n := 0
	for _, r := range runs {
		if uint64(r.from)+uint64(r.count) > uint64(len(old)) {
			return nil, false
		}
		n += int(r.count) + len(r.added)
	}
	out := make([]T, 0, n)
	for _, r := range runs {
		out = append(out, old[r.from:r.from+r.count]...)
		out = append(out, r.added...)
	}
	return out, true
}

func noSkip[T any](T) bool                  { return false }
func nilMember(m *mxv1.IncidentMember) bool { return m == nil }

// memberRuns writes ms as runs over old's members; false when none of
// them is kept.
func memberRuns(old, ms []*mxv1.IncidentMember) ([]*mxv1.IncidentMemberRun, bool) {
	runs, kept := runsOf(old, ms, nilMember)
	out := make([]*mxv1.IncidentMemberRun, len(runs))
	for i, r := range runs {
		out[i] = &mxv1.IncidentMemberRun{From: r.from, Count: r.count, Added: r.added}
	}
	return out, kept > 0
}

// runMembers is the member list runs give over old's members.
func runMembers(old []*mxv1.IncidentMember, runs []*mxv1.IncidentMemberRun) ([]*mxv1.IncidentMember, bool) {
	rs := make([]run[*mxv1.IncidentMember], len(runs))
	for i, r := range runs {
		rs[i] = run[*mxv1.IncidentMember]{from: r.GetFrom(), count: r.GetCount(), added: r.GetAdded()}
	}
	return fromRuns(old, rs)
}

// stringRuns writes list as runs over old when that keeps most of it
// (false: write list whole).
func stringRuns(old, list []string) ([]*mxv1.StringRun, bool) {
	if len(list) < minStringRuns || len(old) < minStringRuns {
		return nil, false
	}
	runs, kept := runsOf(old, list, noSkip[string])
	if kept*2 < len(list) {
		return nil, false
	}
	out := make([]*mxv1.StringRun, len(runs))
	for i, r := range runs {
		out[i] = &mxv1.StringRun{From: r.from, Count: r.count, Added: r.added}
	}
	return out, true
}

// minStringRuns: a shorter list is written whole.
const minStringRuns = 64

// runStrings is the list runs give over old.
func runStrings(old []string, runs []*mxv1.StringRun) ([]string, bool) {
	rs := make([]run[string], len(runs))
	for i, r := range runs {
		rs[i] = run[string]{from: r.GetFrom(), count: r.GetCount(), added: r.GetAdded()}
	}
	return fromRuns(old, rs)
}

// expandDelta rebuilds the round's CorrelateIncidents from d against the
// stored incidents (FSM, before applying it). An upsert whose runs do not
// apply (the stored incident is not the one before it, or a run is out
// of its members) becomes one the FSM rejects (no id), as the
// compare-and-set would. d is the decoded entry's: its incidents are
// completed in place.
func (s *State) expandDelta(d *mxv1.CorrelateIncidentsDelta) *mxv1.CorrelateIncidents {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &mxv1.CorrelateIncidents{Upserts: make([]*mxv1.Incident, len(d.GetUpserts())), Deletes: d.GetDeletes()}
	for i, u := range d.GetUpserts() {
		inc := u.GetIncident()
		if inc == nil {
			inc = &mxv1.Incident{}
		}
		c.Upserts[i] = inc
		if len(u.GetMemberRuns()) == 0 && len(u.GetKeptFields()) == 0 && len(u.GetAgentRuns()) == 0 && len(u.GetHostRuns()) == 0 &&
			len(u.GetRemediationRuns()) == 0 {
			continue
		}
		old := s.incidents.byID[inc.GetId()]
		if old == nil || inc.GetRevision() == 0 || inc.GetRevision() != old.GetRevision()+1 {
			c.Upserts[i] = &mxv1.Incident{}
			continue
		}
		if len(u.GetMemberRuns()) > 0 {
			ms, ok := runMembers(old.GetMembers(), u.GetMemberRuns())
			if !ok {
				c.Upserts[i] = &mxv1.Incident{}
				continue
			}
			inc.Members = ms
		}
		ok := true
		if len(u.GetAgentRuns()) > 0 {
			inc.Agents, ok = runStrings(old.GetAgents(), u.GetAgentRuns())
		}
		if len(u.GetHostRuns()) > 0 && ok {
			inc.Hosts, ok = runStrings(old.GetHosts(), u.GetHostRuns())
		}
		if len(u.GetRemediationRuns()) > 0 && ok {
			var ws []string
			if ws, ok = runStrings(appendWords(nil, old.GetRemediation()), u.GetRemediationRuns()); ok {
				inc.Remediation = strings.Join(ws, "")
			}
		}
		for _, num := range u.GetKeptFields() {
			kf := keptField(num)
			if kf == nil {
				ok = false
				break
			}
			kf.take(inc, old)
		}
		if !ok {
			c.Upserts[i] = &mxv1.Incident{}
		}
	}
	return c
}

// keptFields are the incident fields a delta upsert may take from the
// stored incident: those that are large and often the same from round to
// round (the lists of agents and hosts of an incident with thousands of
// members, a fix that names every holder).
var keptFields = []keptFieldOf{
	{15, func(a, b *mxv1.Incident) bool { return a.Summary == b.Summary }, func(to, from *mxv1.Incident) { to.Summary = from.Summary }},
	{16, func(a, b *mxv1.Incident) bool {
		return a.RootCause == b.RootCause || proto.Equal(a.RootCause, b.RootCause)
	},
		func(to, from *mxv1.Incident) { to.RootCause = from.RootCause }},
	{17, func(a, b *mxv1.Incident) bool { return a.Remediation == b.Remediation }, func(to, from *mxv1.Incident) { to.Remediation = from.Remediation }},
	{19, func(a, b *mxv1.Incident) bool { return a.DirectionDetail == b.DirectionDetail },
		func(to, from *mxv1.Incident) { to.DirectionDetail = from.DirectionDetail }},
	{20, func(a, b *mxv1.Incident) bool { return slices.Equal(a.Agents, b.Agents) }, func(to, from *mxv1.Incident) { to.Agents = from.Agents }},
	{21, func(a, b *mxv1.Incident) bool { return slices.Equal(a.Hosts, b.Hosts) }, func(to, from *mxv1.Incident) { to.Hosts = from.Hosts }},
	{22, func(a, b *mxv1.Incident) bool { return slices.Equal(a.Sites, b.Sites) }, func(to, from *mxv1.Incident) { to.Sites = from.Sites }},
}

// Incident fields written as runs.
const (
	fieldIncidentRemediation protowire.Number = 17
	fieldIncidentAgents      protowire.Number = 20
	fieldIncidentHosts       protowire.Number = 21
)

// noIncident has every field empty (an empty field is not worth keeping).
var noIncident mxv1.Incident

type keptFieldOf struct {
	num protowire.Number
	// same: a's value is b's.
	same func(a, b *mxv1.Incident) bool
	// take sets to's value to from's.
	take func(to, from *mxv1.Incident)
}

// keptField is the keptFields entry of field num, nil for another field.
func keptField(num uint32) *keptFieldOf {
	for i := range keptFields {
		if uint32(keptFields[i].num) == num {
			return &keptFields[i]
		}
	}
	return nil
}

// withoutMembers is a shallow copy of inc without its members (every
// other field, and unknown fields: TestWithoutMembersKeepsEveryField).
func withoutMembers(inc *mxv1.Incident) *mxv1.Incident {
	out := &mxv1.Incident{
		Id: inc.Id, Fingerprint: inc.Fingerprint, Scope: inc.Scope, Cause: inc.Cause, Subject: inc.Subject, Severity: inc.Severity,
		State: inc.State, Sequence: inc.Sequence, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, OpenedAt: inc.OpenedAt,
		AcknowledgedAt: inc.AcknowledgedAt, ResolvedAt: inc.ResolvedAt, UpdatedAt: inc.UpdatedAt, Summary: inc.Summary,
		RootCause: inc.RootCause, Remediation: inc.Remediation, Direction: inc.Direction, DirectionDetail: inc.DirectionDetail,
		Agents: inc.Agents, Hosts: inc.Hosts, Sites: inc.Sites, MembersTotal: inc.MembersTotal,
		Timeline: inc.Timeline, Observations: inc.Observations, CleanObservations: inc.CleanObservations,
		LastObservedAt: inc.LastObservedAt, Occurrence: inc.Occurrence, Stale: inc.Stale, ExternalRefs: inc.ExternalRefs,
		Revision: inc.Revision,
	}
	if u := inc.ProtoReflect().GetUnknown(); len(u) > 0 {
		out.ProtoReflect().SetUnknown(u)
	}
	return out
}

// applyCorrelate applies a round's changes (FSM), recording their events.
func (f *fsm) applyCorrelate(c *mxv1.CorrelateIncidents, at *timestamppb.Timestamp) CorrelateResult {
	ids := make([]string, 0, len(c.GetUpserts()))
	for _, inc := range c.GetUpserts() {
		ids = append(ids, inc.GetId())
	}
	before := f.state.incidentsBefore(ids)
	res := f.state.applyCorrelate(c)
	f.state.recordEvents(before, at)
	return res
}
