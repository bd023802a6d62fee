package correlate

import (
	"cmp"
	"container/heap"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Engine runs correlation rounds incrementally: it keeps what the previous
// round derived (each agent's folded groups, the counts routes depend on,
// every bucket's members and candidate, and which lifecycle steps changed
// nothing) and redoes only what the input's changes touch. Its output is
// Correlate's for the same input (TestIncrementalEqualsFull).
//
// Changes are found by identity: the store replaces an agent's record, a
// result or an incident on every change and never modifies a stored one
// (store.CorrelationView), so a pointer seen in the previous round is the
// same data. A round whose agents differ in more than their reports (an
// agent added or removed, a site or host name changed) starts over, as
// does the first round of an Engine; so a new leader (a new Loop.Run) and
// a restored state (all pointers new) recompute everything once.
//
// An Engine is not safe for concurrent use.
type Engine struct {
	cfg Config
	s   *incState
	// Full counts rounds that started over.
	full int
}

// NewEngine returns an engine whose first round computes everything.
func NewEngine(cfg Config) *Engine { return &Engine{cfg: cfg.WithDefaults()} }

// Reset makes the next round start over.
func (e *Engine) Reset() { e.s = nil }

// incState is what an Engine keeps between rounds.
type incState struct {
	v     *view
	round uint64
	// agents by id: every agent of the input and every id results name.
	agents  map[string]*agentState
	results map[*mxv1.StoredResult]*resultEntry

	// Counts routes depend on (route.go).
	certTP, certID map[certKey]map[string]int // hosts holding the problem
	certGroups     map[certKey]map[*group]bool
	flowSites      map[string]int // site -> current protocol-log/queue results
	flowBy         map[flowKey]map[string]int
	flowGroups     map[flowKey]map[*group]bool
	failing        map[epKey]map[string]int
	probes         map[string]map[*mxv1.StoredResult]probe // of agents' hosts' endpoints
	probeN         map[string]int                          // probe results per endpoint
	epHost         map[string]string                       // endpoint -> agent's host it names ("": none)
	epsOfTarget    map[string]map[string]bool
	epClass        map[classKey]decision
	// What an endpoint's site view (siteView) is made of, counted as
	// probes and failing agents come and go: per endpoint and site the
	// probe results (and those not failed); per endpoint, code and site
	// the probe results whose agent fails the endpoint with that code.
	epSites     map[string]map[string]*siteCount
	epFails     map[epKey]map[string]*siteCount
	codesAt     map[string]map[string]bool
	classGroups map[classKey]map[*group]bool
	classesAt   map[string]map[classKey]bool
	outsideAt   map[string]map[*group]bool
	anchors     map[string]map[bucketKey]bool // host -> anchor buckets
	anchorHosts map[bucketKey][]string
	anchorWorst map[bucketKey]mxv1.Severity

	buckets map[bucketKey]*ibucket
	// dirHost: buckets whose direction detail reads the green probes of a host.
	dirHost map[string]map[bucketKey]bool
	lc      lifecycleState

	// silence: the agents to look at this round (their record changed),
	// and when the others may fall silent (silence).
	silenceDue  []*agentState
	silenceHeap silenceHeap
	silenceNow  time.Time
	silenceOK   bool

	// Scratch space of refold, reused from agent to agent.
	plan []plannedGroup
	kept []bool
}

type agentState struct {
	id    string
	ai    *agentInfo
	src   *mxv1.Agent
	known bool // in the input's agents (else a placeholder)
	// results are all of the agent's current results, active the ones not
	// retired, sorted by check and target.
	results, active []*mxv1.StoredResult
	groups          []*group
	seen            int
	dirty           bool
	unsorted        bool
	// obs: the observations the agent's groups were made of.
	obs []*obs
	// silentAt: when the agent falls silent unless heard again (zero: not
	// scheduled).
	silentAt time.Time
}

type resultEntry struct {
	as    *agentState
	round uint64
	// obs: the result's observations (made on first use).
	obs   []*obs
	obsOK bool
	// prev: the entry of prevRes, the result this one replaced under the
	// same key (until obs are made): when the findings are the same, its
	// observations are kept, refreshed (refreshObs).
	prev    *resultEntry
	prevRes *mxv1.StoredResult
}

// ibucket is one bucket's contributions and its candidate.
type ibucket struct {
	key bucketKey
	// contribs: the groups routed here (each at its g.route).
	contribs map[*group]struct{}
	// ms are the members sorted by memberCmp as of the last rebuild; adds
	// and dels are the changes since (by finding: one finding is one
	// member). agents, hosts and sites count the members' (as build).
	fingerprint          string
	ms                   []member
	adds                 map[*obs]string
	dels                 map[*obs]string
	agents, hosts, sites counter
	silent               []*agentInfo
	cand                 *candidate
	dirHost              string
	// What the members add up to (agg), kept as they come and go.
	sevN               [8]int                // members per severity
	sev                map[mxv1.Severity]int // severities past sevN
	staleRes, silentN  int                   // members whose result is stale, whose agent is silent
	committed          map[time.Time]int
	newest             time.Time
	newestOK           bool
	symptoms, peers    int
	nIn, nOut, nRemote int // members saying inbound / outbound fails; outbound flows naming a remote
	root               member
	hasRoot, rootOK    bool
	// The contributors whose host, remote and direction the bucket takes
	// (the last in round order), and the site incident's lists.
	last             [3]*group
	lastOK           [3]bool
	targets, okSites map[string]int
	// present's last answer: nothing changed for stored incident prev
	// until the clock reaches until.
	memoPrev  *mxv1.Incident
	memoUntil time.Time
	memoNil   bool
	// gone: the bucket was dropped (its candidate is no more).
	gone bool
	// shown: the members the candidate lists, kept while they are the same.
	shown shownMembers
}

// roundState is one round's set of changes.
type roundState struct {
	dirtyBuckets map[bucketKey]bool
	dirtyEPs     map[string]bool
	dirtyCert    map[certKey]bool
	dirtyFlow    map[flowKey]bool
	allFlows     bool
	reroute      map[*group]bool
	probesMoved  map[string]bool
	// probeNet: probe results counted in (+) and out (-) this round, by
	// endpoint, agent and outcome.
	probeNet map[probeNetKey]int
	// newInClass: endpoint groups added this round, by class.
	newInClass  map[classKey][]*group
	anchorHosts map[string]bool
	silentSites map[string]bool
	dirtyAgents map[string]bool
}

func newIncState(in Input, cfg Config) *incState {
	s := &incState{
		v: newAgentView(in.Agents, in.Now, cfg), agents: map[string]*agentState{}, results: make(map[*mxv1.StoredResult]*resultEntry, len(in.Results)),
		certTP: map[certKey]map[string]int{}, certID: map[certKey]map[string]int{}, certGroups: map[certKey]map[*group]bool{},
		flowSites: map[string]int{}, flowBy: map[flowKey]map[string]int{}, flowGroups: map[flowKey]map[*group]bool{},
		failing: map[epKey]map[string]int{}, probes: map[string]map[*mxv1.StoredResult]probe{}, probeN: map[string]int{}, epHost: map[string]string{},
		epSites: map[string]map[string]*siteCount{}, epFails: map[epKey]map[string]*siteCount{}, codesAt: map[string]map[string]bool{},
		classGroups: map[classKey]map[*group]bool{}, classesAt: map[string]map[classKey]bool{}, outsideAt: map[string]map[*group]bool{},
		epsOfTarget: map[string]map[string]bool{}, epClass: map[classKey]decision{}, anchors: map[string]map[bucketKey]bool{}, anchorHosts: map[bucketKey][]string{},
		anchorWorst: map[bucketKey]mxv1.Severity{}, buckets: map[bucketKey]*ibucket{}, dirHost: map[string]map[bucketKey]bool{},
		lc: newLifecycleState(),
	}
	s.v.probesOf = map[string][]string{}
	s.v.lookup = s.lookup
	for _, a := range in.Agents {
		ai := s.v.byID[a.GetAgentId()]
		s.agents[ai.id] = &agentState{id: ai.id, ai: ai, src: a, known: true, dirty: true}
	}
	return s
}

// sameAgents: the input's agents are the state's, up to their reports.
func (s *incState) sameAgents(in Input) bool {
	n := 0
	for _, a := range in.Agents {
		as := s.agents[a.GetAgentId()]
		if as == nil || !as.known {
			return false
		}
		n++
		if as.src == a {
			continue
		}
		host := strings.ToLower(strings.TrimSuffix(a.GetHostname(), "."))
		if host == "" {
			host = strings.ToLower(a.GetAgentId())
		}
		if a.GetSite() != as.ai.site || host != as.ai.host {
			return false
		}
	}
	known := 0
	for _, as := range s.agents {
		if as.known {
			known++
		}
	}
	return n == known && n == len(in.Agents)
}

func (s *incState) lookup(agent, check, target string) *mxv1.StoredResult {
	as := s.agents[agent]
	if as == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(as.active, [2]string{check, target}, func(r *mxv1.StoredResult, k [2]string) int {
		return compareStrings(r.GetResult().GetCheck(), k[0], r.GetResult().GetTarget(), k[1])
	})
	if !ok {
		return nil
	}
	return as.active[i]
}

// Round runs one round over in, like Correlate(in, cfg): it finds what
// changed since the previous round by comparing in with it.
func (e *Engine) Round(in Input) Output {
	rs := newRoundState()
	if e.s == nil || !e.s.sameAgents(in) {
		e.s = newIncState(in, e.cfg)
		e.full++
		for _, a := range e.s.v.agents {
			rs.silentSites[a.site] = true
		}
	}
	s := e.s
	s.round++
	s.v.now = in.Now
	for _, a := range in.Agents {
		s.agentRecord(s.agents[a.GetAgentId()], a, rs)
	}
	s.resultChanges(in, rs)
	s.lc.incidentChanges(in)
	return s.finishRound(rs)
}

func newRoundState() *roundState {
	return &roundState{dirtyBuckets: map[bucketKey]bool{}, dirtyEPs: map[string]bool{}, dirtyCert: map[certKey]bool{}, dirtyFlow: map[flowKey]bool{},
		reroute: map[*group]bool{}, probesMoved: map[string]bool{}, probeNet: map[probeNetKey]int{}, newInClass: map[classKey][]*group{}, anchorHosts: map[string]bool{}, silentSites: map[string]bool{}, dirtyAgents: map[string]bool{}}
}

// finishRound is a round after its changes are noted: agents' silence by
// the clock, folding, routing, candidates and the lifecycle.
func (s *incState) finishRound(rs *roundState) Output {
	s.silence(rs)
	flowSitesBefore := len(s.flowSites)
	for _, as := range s.agents {
		if as.dirty {
			s.refold(as, rs)
			as.dirty = false
			rs.dirtyAgents[as.id] = true
		}
	}
	if len(s.flowSites) != flowSitesBefore {
		rs.allFlows = true
	}
	for k, n := range rs.probeNet {
		if n != 0 {
			rs.probesMoved[k.ep] = true
			rs.dirtyEPs[k.ep] = true
		}
	}
	s.routeDirect(rs)
	s.routeEndpoints(rs)
	s.silentBuckets(rs)
	s.rebuild(rs)
	return s.lifecycle(rs)
}

// agentRecord notes an agent whose record changed (a batch, a Hello).
func (s *incState) agentRecord(as *agentState, a *mxv1.Agent, rs *roundState) {
	if as.src == a {
		return
	}
	ai := as.ai
	as.src = a
	as.dirty = true
	ai.lastSeen = a.GetLastSeen()
	if as.known {
		s.silenceDue = append(s.silenceDue, as)
	}
	ai.lastBatch = time.Time{}
	if a.GetLastBatchAt() != nil {
		ai.lastBatch = a.GetLastBatchAt().AsTime()
	}
	if ai.silent || isSilent(a, s.v.now, s.v.cfg) {
		rs.silentSites[ai.site] = true
	}
}

// silence notes agents whose silence changed (with the clock or their
// record). An agent falls silent when the clock passes its last_seen +
// SilentAfter and is heard again only with a new record (agentRecord),
// so a round looks at the agents whose record changed and those whose
// instant the clock passed (a heap), not at every agent; the first round
// and one whose clock went back look at every agent.
func (s *incState) silence(rs *roundState) {
	now := s.v.now
	if !s.silenceOK || now.Before(s.silenceNow) {
		s.silenceOK = true
		s.silenceHeap = s.silenceHeap[:0]
		s.silenceDue = s.silenceDue[:0]
		for _, ai := range s.v.agents {
			as := s.agents[ai.id]
			as.silentAt = time.Time{}
			s.silenceDue = append(s.silenceDue, as)
		}
	}
	s.silenceNow = now
	for len(s.silenceHeap) > 0 && s.silenceHeap[0].at.Before(now) {
		t := heap.Pop(&s.silenceHeap).(silenceTimer)
		if t.as.silentAt.Equal(t.at) {
			t.as.silentAt = time.Time{}
			s.silenceDue = append(s.silenceDue, t.as)
		}
	}
	for _, as := range s.silenceDue {
		s.silenceOf(as, rs)
		// Not silent: when it falls silent unless heard again.
		if !as.ai.silent && as.src.GetLastSeen() != nil {
			at := as.src.GetLastSeen().AsTime().Add(s.v.cfg.SilentAfter)
			if as.silentAt.IsZero() || at.Before(as.silentAt) {
				as.silentAt = at
				heap.Push(&s.silenceHeap, silenceTimer{at: at, as: as})
			}
		}
	}
	s.silenceDue = s.silenceDue[:0]
}

// silenceTimer: at at, agent as may fall silent (silent after: now > at).
type silenceTimer struct {
	at time.Time
	as *agentState
}

type silenceHeap []silenceTimer

func (h silenceHeap) Len() int           { return len(h) }
func (h silenceHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h silenceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *silenceHeap) Push(x any)        { *h = append(*h, x.(silenceTimer)) }
func (h *silenceHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// silenceOf notes whether agent as is silent now.
func (s *incState) silenceOf(as *agentState, rs *roundState) {
	ai := as.ai
	silent := isSilent(as.src, s.v.now, s.v.cfg)
	if silent == ai.silent {
		return
	}
	ai.silent = silent
	rs.silentSites[ai.site] = true
	// Every bucket holding its findings marks them stale (or not).
	for _, g := range as.groups {
		if r, ok := s.routeOf(g); ok {
			rs.dirtyBuckets[r.key] = true
			n := 1 + len(g.symptoms)
			if !silent {
				n = -n
			}
			s.buckets[r.key].silentN += n
		}
	}
}

// resultChanges notes agents with a result added, replaced or removed.
func (s *incState) resultChanges(in Input, rs *roundState) {
	var added []*mxv1.StoredResult
	for _, as := range s.agents {
		as.seen = 0
	}
	for _, r := range in.Results {
		if e := s.results[r]; e != nil {
			e.round = s.round
			e.as.seen++
			continue
		}
		added = append(added, r)
	}
	for _, as := range s.agents {
		if as.seen != len(as.results) {
			as.dirty = true
			kept := as.results[:0:0]
			for _, r := range as.results {
				if s.results[r].round == s.round {
					kept = append(kept, r)
				} else {
					delete(s.results, r)
				}
			}
			as.results = kept
		}
	}
	entries := make([]resultEntry, len(added))
	var unsorted []*agentState
	for i, r := range added {
		as := s.agents[r.GetAgentId()]
		if as == nil {
			as = &agentState{id: r.GetAgentId(), ai: s.v.agent(r.GetAgentId())}
			s.agents[as.id] = as
		}
		as.dirty = true
		if !as.unsorted {
			as.unsorted = true
			unsorted = append(unsorted, as)
		}
		as.results = append(as.results, r)
		entries[i] = resultEntry{as: as, round: s.round}
		s.results[r] = &entries[i]
	}
	// Kept sorted by check and target (refold's order).
	for _, as := range unsorted {
		slices.SortFunc(as.results, resultCmp)
		as.unsorted = false
	}
}

func resultCmp(a, b *mxv1.StoredResult) int {
	return compareStrings(a.GetResult().GetCheck(), b.GetResult().GetCheck(), a.GetResult().GetTarget(), b.GetResult().GetTarget())
}

// refold redoes one agent's observations and groups, keeping the groups
// that did not change.
func (s *incState) refold(as *agentState, rs *roundState) {
	v := s.v
	ai := as.ai
	var active []*mxv1.StoredResult
	for _, r := range as.results {
		if !as.known || !ai.retired(r) {
			active = append(active, r)
		}
	}
	// Per-result counts: flow observers, probes (an agent has a few
	// dozen results: linear search).
	for _, r := range active {
		if !slices.Contains(as.active, r) {
			s.countResult(ai, r, +1, rs)
		}
	}
	for _, r := range as.active {
		if !slices.Contains(active, r) {
			s.countResult(ai, r, -1, rs)
		}
	}
	as.active = active

	var obs []*obs
	for _, r := range active {
		e := s.results[r]
		if !e.obsOK {
			if p := e.prev; p != nil && p.obsOK && sameFindings(e.prevRes, r) {
				for _, o := range p.obs {
					s.refreshObs(o, r, rs)
				}
				e.obs = p.obs
			} else {
				e.obs = appendObs(nil, ai, r, v.cfg.MinSeverity)
			}
			e.obsOK, e.prev, e.prevRes = true, nil, nil
		}
		obs = append(obs, e.obs...)
	}
	if slices.Equal(obs, as.obs) && len(obs) > 0 {
		// The same observations (results replaced by ones with the same
		// findings keep theirs): the same groups.
		return
	}
	as.obs = obs
	// The groups, sorted by root (code, subject), one per root, planned
	// before they are made: a group that did not change is kept, at its
	// new position (renumbering keeps the order of the agent's groups, all
	// that positions are used for), and only the others are made.
	var plan []plannedGroup
	switch {
	case len(obs) > smallFold:
		for _, g := range fold(obs) {
			plan = append(plan, plannedGroup{agent: g.agent, root: g.root, symptoms: g.symptoms})
		}
	case len(obs) > 0:
		s.plan = foldPlan(obs, s.plan)
		plan = s.plan
	}
	kept := s.kept[:0]
	for range as.groups {
		kept = append(kept, false)
	}
	s.kept = kept
	groups := make([]*group, len(plan))
	j := 0
	for i, p := range plan {
		for j < len(as.groups) && compareStrings(as.groups[j].root.f.GetCode(), p.root.f.GetCode(), as.groups[j].root.f.GetSubject(), p.root.f.GetSubject()) < 0 {
			j++
		}
		if j < len(as.groups) && samePlanned(as.groups[j], p) {
			groups[i] = as.groups[j]
			groups[i].gidx = i
			kept[j] = true
			j++
			continue
		}
		g := p.group()
		groups[i] = g
		g.gidx = i
		v.features(g)
		s.addGroup(g, rs)
	}
	for i, g := range as.groups {
		if !kept[i] {
			s.removeGroup(g, rs)
		}
	}
	as.groups = groups
}

// samePlanned: group a is what plan p would make.
func samePlanned(a *group, p plannedGroup) bool {
	if a.agent != p.agent || !sameObs(a.root, p.root) || len(a.symptoms) != len(p.symptoms) {
		return false
	}
	for i := range a.symptoms {
		if !sameObs(a.symptoms[i], p.symptoms[i]) {
			return false
		}
	}
	return true
}

func sameObs(a, b *obs) bool { return a.res == b.res && a.f == b.f && a.idx == b.idx }

func (s *incState) countResult(ai *agentInfo, r *mxv1.StoredResult, d int, rs *roundState) {
	switch r.GetResult().GetCheck() {
	case "protocol_log", "queue":
		s.flowSites[ai.site] += d
		if s.flowSites[ai.site] == 0 {
			delete(s.flowSites, ai.site)
		}
	}
	ep := probeEndpoint(r.GetResult())
	if ep == "" {
		return
	}
	var p probe
	if d > 0 {
		st := r.GetResult().GetStatus()
		p = probe{agent: ai, res: r, failed: st == mxv1.CheckStatus_CHECK_STATUS_FAIL || st == mxv1.CheckStatus_CHECK_STATUS_ERROR}
		ai.probes = append(ai.probes, epProbe{ep, p})
	} else {
		for i, q := range ai.probes {
			if q.p.res == r {
				p = q.p
				ai.probes = slices.Delete(ai.probes, i, i+1)
				break
			}
		}
	}
	// What the endpoint's routes read of its probes: who probes it and
	// whether the probe failed (a result replaced by one that says the
	// same moves nothing: finishRound).
	rs.probeNet[probeNetKey{ep, ai, p.failed}] += d
	addSite(s.epSites, ep, ai.site, d, p.failed)
	for code := range s.codesAt[ep] {
		if s.failing[epKey{ep, code}][ai.id] > 0 {
			addSite(s.epFails, epKey{ep, code}, ai.site, d, p.failed)
		}
	}
	if s.probeN[ep] += d; s.probeN[ep] == 0 {
		delete(s.probeN, ep)
	}
	// The probes themselves are kept for agents' hosts only (direction
	// details name the green ones).
	h, ok := s.epHost[ep]
	if !ok {
		h = s.v.internalHost(endpointHost(ep))
		s.epHost[ep] = h
	}
	if h == "" {
		return
	}
	m := s.probes[ep]
	if d > 0 {
		if m == nil {
			m = map[*mxv1.StoredResult]probe{}
			s.probes[ep] = m
			s.v.probesOf[h] = append(s.v.probesOf[h], ep)
		}
		m[r] = p
		return
	}
	delete(m, r)
	if len(m) == 0 {
		delete(s.probes, ep)
		s.v.probesOf[h] = slices.DeleteFunc(s.v.probesOf[h], func(e string) bool { return e == ep })
	}
}

type probeNetKey struct {
	ep     string
	agent  *agentInfo
	failed bool
}

// siteCount: probe results of one site (n), of which not failed (ok).
type siteCount struct{ n, ok int }

// epProbe is one of an agent's probe results and the endpoint it probes.
type epProbe struct {
	ep string
	p  probe
}

func addSite[K comparable](m map[K]map[string]*siteCount, k K, site string, d int, failed bool) {
	sm := m[k]
	if sm == nil {
		sm = map[string]*siteCount{}
		m[k] = sm
	}
	c := sm[site]
	if c == nil {
		c = &siteCount{}
		sm[site] = c
	}
	c.n += d
	if !failed {
		c.ok += d
	}
	if c.n == 0 {
		delete(sm, site)
		if len(sm) == 0 {
			delete(m, k)
		}
	}
}

// siteView is newSiteView's answer for endpoint ep and code from the
// counts.
func (s *incState) siteView(ep, code string) siteView {
	sv := siteView{all: map[string]bool{}, ok: map[string]bool{}}
	fails := s.epFails[epKey{ep, code}]
	for site, c := range s.epSites[ep] {
		f := fails[site]
		if f == nil {
			f = &siteCount{}
		}
		sv.all[site] = f.n == c.n
		if c.ok-f.ok > 0 {
			sv.ok[site] = true
		}
	}
	sv.okSorted = sortedKeys(sv.ok)
	return sv
}

func addCount[K comparable](m map[K]map[string]int, k K, x string, d int) (changed bool) {
	c := m[k]
	if c == nil {
		c = map[string]int{}
		m[k] = c
	}
	before := len(c)
	c[x] += d
	if c[x] == 0 {
		delete(c, x)
	}
	if len(c) == 0 {
		delete(m, k)
	}
	return len(c) != before
}

// addGroup and removeGroup keep the counts; the group is routed later.
func (s *incState) addGroup(g *group, rs *roundState) { s.count(g, +1, rs) }

func (s *incState) removeGroup(g *group, rs *roundState) {
	s.count(g, -1, rs)
	s.unroute(g, rs)
	delete(rs.reroute, g)
}

func (s *incState) count(g *group, d int, rs *roundState) {
	in := d > 0
	switch g.kind {
	case kindCert:
		before := [2]int{len(s.certTP[g.tpKey()]), len(s.certID[g.idKey()])}
		addCount(s.certTP, g.tpKey(), g.agent.host, d)
		addCount(s.certID, g.idKey(), g.agent.host, d)
		if (before[0] >= 2) != (len(s.certTP[g.tpKey()]) >= 2) {
			rs.dirtyCert[certKey{"tp\x00" + g.code, g.root.f.GetSubject()}] = true
		}
		if (before[1] >= 2) != (len(s.certID[g.idKey()]) >= 2) {
			rs.dirtyCert[certKey{"id\x00" + g.code, g.ident}] = true
		}
		setIn(s.certGroups, certKey{"tp\x00" + g.code, g.root.f.GetSubject()}, g, in)
		setIn(s.certGroups, certKey{"id\x00" + g.code, g.ident}, g, in)
		if in {
			rs.reroute[g] = true
		}
	case kindFlow:
		if addCount(s.flowBy, g.flowKey(), g.agent.site, d) {
			rs.dirtyFlow[g.flowKey()] = true
		}
		setIn(s.flowGroups, g.flowKey(), g, in)
		if in {
			rs.reroute[g] = true
		}
	case kindEndpoint:
		k := g.epKey()
		before := s.failing[k][g.agent.id] > 0
		addCount(s.failing, k, g.agent.id, d)
		if after := s.failing[k][g.agent.id] > 0; after != before {
			dd := map[bool]int{true: 1, false: -1}[after]
			for _, q := range g.agent.probes {
				if q.ep == g.ep {
					addSite(s.epFails, k, q.p.agent.site, dd, q.p.failed)
				}
			}
		}
		if s.failing[k] != nil {
			setIn(s.codesAt, g.ep, g.code, true)
		} else {
			setIn(s.codesAt, g.ep, g.code, false)
		}
		if g.agent.outside {
			setIn(s.outsideAt, g.ep, g, in)
		} else {
			ck := classKey{g.ep, g.code, g.agent.site}
			setIn(s.classGroups, ck, g, in)
			setIn(s.classesAt, g.ep, ck, s.classGroups[ck] != nil)
			if in {
				rs.newInClass[ck] = append(rs.newInClass[ck], g)
			} else if s.classGroups[ck] == nil {
				delete(s.epClass, ck)
			}
		}
		if s.epsOfTarget[g.target] == nil {
			s.epsOfTarget[g.target] = map[string]bool{}
		}
		s.epsOfTarget[g.target][g.ep] = true
		rs.dirtyEPs[g.ep] = true
	default:
		if in {
			rs.reroute[g] = true
		}
	}
}

func setIn[K, E comparable](m map[K]map[E]bool, k K, e E, in bool) {
	if in {
		if m[k] == nil {
			m[k] = map[E]bool{}
		}
		m[k][e] = true
		return
	}
	delete(m[k], e)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// routes: a group's current route is its contribution to its bucket.
func (s *incState) routeOf(g *group) (route, bool) {
	if !g.routed {
		return route{}, false
	}
	return g.route, true
}

func (s *incState) unroute(g *group, rs *roundState) {
	if !g.routed {
		return
	}
	b := s.buckets[g.route.key]
	b.delContrib(g)
	b.members(g, g.route, -1)
	rs.dirtyBuckets[g.route.key] = true
	g.routed = false
}

// setRoute moves g to route r (nothing when it is there already).
func (s *incState) setRoute(g *group, r route, rs *roundState) {
	if g.routed && sameRoute(g.route, r) {
		return
	}
	if g.routed && g.route.key == r.key && g.route.peers == r.peers {
		// The same bucket and the same roles: only what the route sets
		// there moves (a site incident's sites that succeed), not the
		// members.
		b := s.buckets[r.key]
		b.delContrib(g)
		b.addContrib(g, r)
		g.route = r
		rs.dirtyBuckets[r.key] = true
		return
	}
	s.unroute(g, rs)
	b := s.buckets[r.key]
	if b == nil {
		b = newIBucket(r.key)
		s.buckets[r.key] = b
		s.lc.addBucket(b)
	}
	b.addContrib(g, r)
	b.members(g, r, +1)
	g.route, g.routed = r, true
	rs.dirtyBuckets[r.key] = true
}

func sameRoute(a, b route) bool {
	return a.key == b.key && a.peers == b.peers && a.inbound == b.inbound && a.setHost == b.setHost && a.setRemote == b.setRemote &&
		a.setDir == b.setDir && a.host == b.host && a.remote == b.remote && a.dir == b.dir && a.target == b.target && slices.Equal(a.okSites, b.okSites)
}

// routeDirect routes the groups of the classifiers before endpoints:
// direct ones, certificates and flows whose counts moved.
func (s *incState) routeDirect(rs *roundState) {
	for k := range rs.dirtyCert {
		for g := range s.certGroups[k] {
			rs.reroute[g] = true
		}
	}
	if rs.allFlows {
		for _, gs := range s.flowGroups {
			for g := range gs {
				rs.reroute[g] = true
			}
		}
	} else {
		for k := range rs.dirtyFlow {
			for g := range s.flowGroups[k] {
				rs.reroute[g] = true
			}
		}
	}
	for g := range rs.reroute {
		var r route
		switch g.kind {
		case kindCert:
			r = g.certRoute(len(s.certTP[g.tpKey()]), len(s.certID[g.idKey()]))
		case kindFlow:
			r = g.flowRoute(len(s.flowBy[g.flowKey()]), len(s.flowSites))
		default:
			r = g.directRoute()
		}
		s.setRoute(g, r, rs)
	}
	// Anchors: server and certificate buckets whose own members moved.
	for k := range rs.dirtyBuckets {
		if k.scope != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER && k.scope != mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE {
			continue
		}
		var hosts []string
		var w mxv1.Severity
		if b := s.buckets[k]; b != nil {
			for g := range b.contribs {
				if g.phase() <= 2 {
					hosts = append(hosts, g.agent.host)
					w = max(w, g.worst)
				}
			}
		}
		slices.Sort(hosts)
		hosts = slices.Compact(hosts)
		old := s.anchorHosts[k]
		if slices.Equal(old, hosts) && s.anchorWorst[k] == w {
			continue
		}
		for _, h := range old {
			rs.anchorHosts[h] = true
			delete(s.anchors[h], k)
			if len(s.anchors[h]) == 0 {
				delete(s.anchors, h)
			}
		}
		for _, h := range hosts {
			rs.anchorHosts[h] = true
			if s.anchors[h] == nil {
				s.anchors[h] = map[bucketKey]bool{}
			}
			s.anchors[h][k] = true
		}
		if len(hosts) == 0 {
			delete(s.anchorHosts, k)
			delete(s.anchorWorst, k)
		} else {
			s.anchorHosts[k], s.anchorWorst[k] = hosts, w
		}
	}
}

// routeEndpoints re-routes every group of each endpoint whose probes,
// failing agents or anchors moved, in the order a full round does.
func (s *incState) routeEndpoints(rs *roundState) {
	for h := range rs.anchorHosts {
		for ep := range s.epsOfTarget[h] {
			rs.dirtyEPs[ep] = true
		}
	}
	for ep := range rs.probesMoved {
		// Probes of an agent's host: direction details name the green ones.
		h := s.v.internalHost(endpointHost(ep))
		if h == "" {
			continue
		}
		ps := make([]probe, 0, len(s.probes[ep]))
		for _, p := range s.probes[ep] {
			ps = append(ps, p)
		}
		if len(ps) == 0 {
			delete(s.v.probes, ep)
		} else {
			s.v.probes[ep] = ps
		}
		for k := range s.dirHost[h] {
			rs.dirtyBuckets[k] = true
		}
	}
	for ep := range rs.dirtyEPs {
		s.routeEndpoint(ep, rs)
	}
}

// routeEndpoint re-routes the groups of one endpoint. An agent's route
// depends on its class (code, site) only, so a class whose rule did not
// change keeps its groups where they are and routes only its new ones;
// the reports (which depend on the agents' inbound incidents) are routed
// again.
func (s *incState) routeEndpoint(ep string, rs *roundState) {
	probers := s.probeN[ep]
	sv := map[string]siteView{}
	// Every group of the endpoint has the same target (its host).
	target := s.v.internalHost(endpointHost(ep))
	var anchorKey bucketKey
	anchorOK, anchored := false, false
	anchor := func() (bucketKey, bool) {
		if !anchored {
			anchorKey, anchorOK = s.bestAnchor(target)
			anchored = true
		}
		return anchorKey, anchorOK
	}
	routeOf := func(g *group, inbound func() (bucketKey, bool)) route {
		view, ok := sv[g.code]
		if !ok {
			view = s.siteView(ep, g.code)
			sv[g.code] = view
		}
		return g.endpointRoute(view, len(s.failing[g.epKey()]), probers, anchor, inbound)
	}
	noInbound := func() (bucketKey, bool) { return bucketKey{}, false }
	for ck := range s.classesAt[ep] {
		gs := s.classGroups[ck]
		var rep *group
		for g := range gs {
			rep = g
			break
		}
		d := decisionOf(routeOf(rep, noInbound))
		if !s.epClass[ck].equal(d) {
			s.epClass[ck] = d
			for g := range gs {
				s.setRoute(g, routeOf(g, noInbound), rs)
			}
			continue
		}
		for _, g := range rs.newInClass[ck] {
			if gs[g] {
				s.setRoute(g, routeOf(g, noInbound), rs)
			}
		}
	}
	outside := slices.Collect(maps.Keys(s.outsideAt[ep]))
	if len(outside) == 0 {
		return
	}
	// Senders' reports come last (a full round's order), each folding
	// into the inbound incidents the agents' probes opened.
	inbound := newInboundIndex()
	for ck := range s.classesAt[ep] {
		for g := range s.classGroups[ck] {
			inbound.add(g, g.route)
		}
	}
	slices.SortFunc(outside, func(a, b *group) int {
		return cmp.Or(strings.Compare(a.agent.id, b.agent.id), cmp.Compare(a.gidx, b.gidx))
	})
	for _, g := range outside {
		r := routeOf(g, func() (bucketKey, bool) { return inbound.best(g.target + "/" + g.ep) })
		s.setRoute(g, r, rs)
		inbound.add(g, r)
	}
}

// classKey: agents' endpoint groups routed by the same rule.
type classKey struct{ ep, code, site string }

// decision is what a class's rule decided: a route without the group's
// own parts (the observer's host of rule "own problem").
type decision struct {
	rule    uint8
	key     bucketKey
	okSites string
}

func decisionOf(r route) decision {
	d := decision{rule: r.rule, okSites: strings.Join(r.okSites, "\x00")}
	if r.rule != ruleOwnProblem {
		d.key = r.key
	}
	return d
}

func (d decision) equal(e decision) bool { return d == e }

func (s *incState) bestAnchor(host string) (bucketKey, bool) {
	var ks []bucketKey
	for k := range s.anchors[host] {
		ks = append(ks, k)
	}
	return bestAnchor(ks, s.anchorWorst)
}

// silentBuckets redoes AGENT_SILENT of sites whose agents' silence moved.
func (s *incState) silentBuckets(rs *roundState) {
	for site := range rs.silentSites {
		k := silentKey(site)
		b := s.buckets[k]
		if b == nil {
			b = newIBucket(k)
			s.buckets[k] = b
			s.lc.addBucket(b)
		}
		b.silent = b.silent[:0:0]
		for _, a := range s.v.agents {
			if a.silent && a.site == site {
				b.silent = append(b.silent, a)
			}
		}
		rs.dirtyBuckets[k] = true
	}
}

// rebuild makes the candidates of the buckets that moved, like a full
// round: members and the attributes contributors set, in round order.
func (s *incState) rebuild(rs *roundState) {
	for k := range rs.dirtyBuckets {
		ib := s.buckets[k]
		if ib == nil {
			continue
		}
		if ib.dirHost != "" {
			delete(s.dirHost[ib.dirHost], k)
			ib.dirHost = ""
		}
		if len(ib.contribs) == 0 && len(ib.silent) == 0 {
			delete(s.buckets, k)
			s.lc.dropBucket(ib)
			continue
		}
		ib.flush()
		b := ib.replay()
		var c *candidate
		if k.cause == string(finding.AgentSilent) {
			c = s.v.finish(b, nil, nil, nil, nil, agg{})
		} else {
			s.v.shown = &ib.shown
			c = s.v.finish(b, ib.ms, ib.agents.sorted(), ib.hosts.sorted(), ib.sites.sorted(), ib.agg(b))
			s.v.shown = nil
		}
		ib.cand = c
		ib.memoPrev, ib.memoNil = nil, false
		if c.dir != mxv1.FlowDirection_FLOW_DIRECTION_UNSPECIFIED && k.cause != "AGENT_SILENT" {
			h := b.host
			if h == "" && len(c.hosts) == 1 {
				h = c.hosts[0]
			}
			if h != "" {
				ib.dirHost = h
				if s.dirHost[h] == nil {
					s.dirHost[h] = map[bucketKey]bool{}
				}
				s.dirHost[h][k] = true
			}
		}
	}
}

func newIBucket(k bucketKey) *ibucket {
	// Maps other than contribs are made on first use.
	return &ibucket{key: k, fingerprint: incident.Fingerprint(k.scope, k.cause, k.subject), contribs: map[*group]struct{}{}, newestOK: true, rootOK: true,
		lastOK: [3]bool{true, true, true}}
}

// members adds (d=+1) or removes (d=-1) the members route r gives g.
func (b *ibucket) members(g *group, r route, d int) {
	role := roleSymptom
	rootRole := roleRoot
	if r.peers {
		role, rootRole = rolePeer, rolePeer
	}
	b.member(g.root, rootRole, d)
	for _, o := range g.symptoms {
		b.member(o, role, d)
	}
}

func (b *ibucket) member(o *obs, role string, d int) {
	b.aggregate(member{o, role}, d)
	if b.adds == nil {
		b.adds, b.dels = map[*obs]string{}, map[*obs]string{}
	}
	if d > 0 {
		b.adds[o] = role
	} else if _, ok := b.adds[o]; ok {
		delete(b.adds, o)
	} else {
		b.dels[o] = role
	}
	b.agents.add(o.agent.id, d)
	if !o.agent.outside {
		b.sites.add(o.agent.site, d)
		if role != rolePeer {
			b.hosts.add(o.agent.host, d)
		}
	}
}

// flush applies the member changes to ms: the removed ones are marked
// and swept in one pass, the added ones sorted and merged in (a binary
// search each, one copy of ms).
func (b *ibucket) flush() {
	if len(b.dels) > 0 {
		b.ms = b.sweep()
		clear(b.dels)
	}
	if len(b.adds) == 0 {
		return
	}
	add := make([]member, 0, len(b.adds))
	for o, role := range b.adds {
		add = append(add, member{o, role})
	}
	clear(b.adds)
	slices.SortFunc(add, memberCmp)
	// Each added member's place among the kept ones, then the kept ones
	// moved up in runs from the back (ms is the bucket's own: a candidate
	// keeps none of it).
	at := make([]int, len(add))
	lo := 0
	for k, m := range add {
		i, _ := slices.BinarySearchFunc(b.ms[lo:], m, memberCmp)
		lo += i
		at[k] = lo
	}
	end := len(b.ms)
	b.ms = slices.Grow(b.ms, len(add))[:end+len(add)]
	w := len(b.ms)
	for k := len(add) - 1; k >= 0; k-- {
		n := end - at[k]
		copy(b.ms[w-n:w], b.ms[at[k]:end])
		w -= n + 1
		end = at[k]
		b.ms[w] = add[k]
	}
}

// sweep returns ms without the removed members: a few are found by
// binary search and cut out (not a pass that reads every member), many
// marked and swept in one pass.
func (b *ibucket) sweep() []member {
	pass := func() []member {
		for o := range b.dels {
			o.gone = true
		}
		ms := slices.DeleteFunc(b.ms, func(m member) bool { return m.o.gone })
		for o := range b.dels {
			o.gone = false
		}
		return ms
	}
	if len(b.dels)*16 > len(b.ms) {
		return pass()
	}
	at := make([]int, 0, len(b.dels))
	for o, role := range b.dels {
		i, ok := slices.BinarySearchFunc(b.ms, member{o, role}, memberCmp)
		if !ok || b.ms[i].o != o {
			return pass()
		}
		at = append(at, i)
	}
	slices.Sort(at)
	// Cut out in place: the runs between the removed ones moved down.
	ms := b.ms
	w := at[0]
	for k, i := range at {
		next := len(ms)
		if k+1 < len(at) {
			next = at[k+1]
		}
		w += copy(ms[w:], ms[i+1:next])
	}
	clear(ms[w:])
	return ms[:w]
}

// replay is the bucket a full round assembles, without members: the
// attributes set by the last contributor in round order (phase, agent,
// group), the site incident's targets and sites that succeed.
func (b *ibucket) replay() *bucket {
	out := &bucket{key: b.key, silent: b.silent, fingerprint: b.fingerprint}
	for i := range b.last {
		if !b.lastOK[i] {
			b.last[i] = nil
			for g := range b.contribs {
				if g.route.sets(i) && later(g, b.last[i]) {
					b.last[i] = g
				}
			}
			b.lastOK[i] = true
		}
	}
	if g := b.last[0]; g != nil {
		out.host = g.route.host
	}
	if g := b.last[1]; g != nil {
		out.remote = g.route.remote
	}
	if g := b.last[2]; g != nil {
		out.dir = g.route.dir
	}
	for t := range b.targets {
		out.targets = append(out.targets, t)
	}
	for s := range b.okSites {
		out.okSites = append(out.okSites, s)
	}
	return out
}

// later: g comes after than in a full round's order (than nil: first).
func later(g, than *group) bool {
	if than == nil {
		return true
	}
	return cmp.Or(cmp.Compare(g.phase(), than.phase()), strings.Compare(g.agent.id, than.agent.id), cmp.Compare(g.gidx, than.gidx)) > 0
}

// sets: the route sets the bucket's host (0), remote (1), direction (2).
func (r route) sets(i int) bool {
	switch i {
	case 0:
		return r.setHost
	case 1:
		return r.setRemote
	}
	return r.setDir
}

func (b *ibucket) addContrib(g *group, r route) {
	b.contribs[g] = struct{}{}
	for i := range b.last {
		if r.sets(i) && b.lastOK[i] && later(g, b.last[i]) {
			b.last[i] = g
		}
	}
	if r.target != "" || len(r.okSites) > 0 {
		if b.targets == nil {
			b.targets, b.okSites = map[string]int{}, map[string]int{}
		}
	}
	if r.target != "" {
		b.targets[r.target]++
	}
	for _, s := range r.okSites {
		b.okSites[s]++
	}
}

func (b *ibucket) delContrib(g *group) {
	r := g.route // not yet replaced (setRoute)
	delete(b.contribs, g)
	for i := range b.last {
		if b.last[i] == g {
			b.lastOK[i] = false
		}
	}
	if r.target != "" {
		decr(b.targets, r.target)
	}
	for _, s := range r.okSites {
		decr(b.okSites, s)
	}
}

func decr[K comparable](m map[K]int, k K) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// aggregate counts member m in (d=+1) or out (d=-1) of what the members
// add up to.
func (b *ibucket) aggregate(m member, d int) {
	o := m.o
	if sev := o.f.GetSeverity(); sev >= 0 && int(sev) < len(b.sevN) {
		b.sevN[sev] += d
	} else {
		if b.sev == nil {
			b.sev = map[mxv1.Severity]int{}
		}
		if b.sev[sev] += d; b.sev[sev] == 0 {
			delete(b.sev, sev)
		}
	}
	if o.agent.silent {
		b.silentN += d
	}
	b.countResult(o, d)
	switch m.role {
	case roleRoot:
		if d > 0 && b.rootOK && (!b.hasRoot || rootBefore(m, b.root)) {
			b.root, b.hasRoot = m, true
		} else if d < 0 && b.hasRoot && b.root.o == o {
			b.rootOK = false
		}
	case roleSymptom:
		b.symptoms += d
	case rolePeer:
		b.peers += d
	}
	in, out, remote, _ := memberDirection(m)
	if in {
		b.nIn += d
	}
	if out {
		b.nOut += d
	}
	if remote != "" {
		b.nRemote += d
	}
}

// countResult counts what member o takes from its result (staleness,
// commit time) in (d=+1) or out (d=-1).
func (b *ibucket) countResult(o *obs, d int) {
	if o.res.GetStaleSince() != nil {
		b.staleRes += d
	}
	if b.committed == nil {
		b.committed = map[time.Time]int{}
	}
	b.committed[o.committed] += d
	switch n := b.committed[o.committed]; {
	case n == 0:
		delete(b.committed, o.committed)
		if o.committed.Equal(b.newest) {
			b.newestOK = false
		}
	case d > 0 && b.newestOK && o.committed.After(b.newest):
		b.newest = o.committed
	}
}

// refreshObs moves observation o to result r, which replaced o's result
// with the same findings (sameFindings): o stays where it is, in its
// group and its bucket, which counts its new result instead of the old.
func (s *incState) refreshObs(o *obs, r *mxv1.StoredResult, rs *roundState) {
	var b *ibucket
	if g := o.g; g != nil && g.routed {
		b = s.buckets[g.route.key]
		b.countResult(o, -1)
	}
	o.res, o.f, o.committed = r, r.GetResult().GetFindings()[o.idx], r.GetCommittedAt().AsTime()
	if b != nil {
		b.countResult(o, +1)
		rs.dirtyBuckets[b.key] = true
	}
}

// sameFindings: results a and b hold the same findings (so the same
// observations).
func sameFindings(a, b *mxv1.StoredResult) bool {
	fa, fb := a.GetResult().GetFindings(), b.GetResult().GetFindings()
	return slices.EqualFunc(fa, fb, func(x, y *mxv1.Finding) bool { return x == y || proto.Equal(x, y) })
}

// agg is what the members add up to (after flush).
func (b *ibucket) agg(bk *bucket) agg {
	var a agg
	for sev, n := range b.sevN {
		if n > 0 {
			a.severity = max(a.severity, mxv1.Severity(sev))
		}
	}
	for sev := range b.sev {
		a.severity = max(a.severity, sev)
	}
	a.stale = b.staleRes > 0 || b.silentN > 0
	if !b.newestOK {
		b.newest = time.Time{}
		for t := range b.committed {
			if t.After(b.newest) {
				b.newest = t
			}
		}
		b.newestOK = true
	}
	a.lastCommitted = b.newest
	if !b.rootOK {
		b.hasRoot = false
		for _, m := range b.ms {
			if m.role == roleRoot && (!b.hasRoot || rootBefore(m, b.root)) {
				b.root, b.hasRoot = m, true
			}
		}
		b.rootOK = true
	}
	if b.hasRoot {
		r := b.root
		a.root = &r
	}
	if b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE {
		for _, m := range b.ms {
			if m.role == roleRoot {
				a.roots = append(a.roots, m)
			}
		}
	}
	a.symptoms, a.peers = b.symptoms, b.peers
	a.in, a.out = b.nIn > 0, b.nOut > 0
	if bk.remote == "" && b.nRemote > 0 {
		for _, m := range b.ms {
			if _, _, remote, _ := memberDirection(m); remote != "" {
				a.remote = remote
				break
			}
		}
	}
	return a
}

// counter counts members per key and keeps the keys sorted.
type counter struct {
	n    map[string]int
	keys []string
	// touched: the keys whose count went to or from zero since sorted
	// (a key may be listed more than once).
	touched []string
}

func (c *counter) add(k string, d int) {
	if c.n == nil {
		c.n = map[string]int{}
	}
	before := c.n[k]
	after := before + d
	if after == 0 {
		delete(c.n, k)
	} else {
		c.n[k] = after
	}
	if (before == 0) != (after == 0) {
		c.touched = append(c.touched, k)
	}
}

// sorted returns the keys, a slice that is never modified: the next
// change makes a new one, so a candidate may keep it.
func (c *counter) sorted() []string {
	if len(c.touched) == 0 {
		return c.keys
	}
	var add, gone []string
	for _, k := range c.touched {
		_, in := slices.BinarySearch(c.keys, k)
		switch now := c.n[k] > 0; {
		case now && !in:
			add = append(add, k)
		case !now && in:
			gone = append(gone, k)
		}
	}
	c.touched = c.touched[:0]
	if len(gone) == 0 && len(add) == 0 {
		return c.keys
	}
	slices.Sort(add)
	slices.Sort(gone)
	add, gone = slices.Compact(add), slices.Compact(gone)
	// Merge: the kept keys copied in runs between the positions of the
	// gone keys and of the added ones (found by binary search), not
	// compared one by one.
	keys := make([]string, 0, len(c.keys)+len(add)-len(gone))
	prev, ai, gi := 0, 0, 0
	for ai < len(add) || gi < len(gone) {
		var at int
		if ai < len(add) {
			at, _ = slices.BinarySearch(c.keys, add[ai])
		}
		if gi < len(gone) {
			g, _ := slices.BinarySearch(c.keys, gone[gi])
			if ai == len(add) || g < at {
				keys = append(keys, c.keys[prev:g]...)
				prev = g + 1
				gi++
				continue
			}
		}
		keys = append(keys, c.keys[prev:at]...)
		keys = append(keys, add[ai])
		prev = at
		ai++
	}
	keys = append(keys, c.keys[prev:]...)
	c.keys = keys
	return keys
}
