package correlate

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Input is one round's view of the replicated state. Nothing in it is
// modified; order does not matter.
type Input struct {
	Agents    []*mxv1.Agent
	Results   []*mxv1.StoredResult
	Incidents []*mxv1.Incident
	// Now is the leader's clock for this round.
	Now time.Time
}

type agentInfo struct {
	id, site, host string
	silent         bool
	lastSeen       *timestamppb.Timestamp
	// lastBatch: when the agent's latest round was committed (zero: unknown).
	lastBatch time.Time
	// outside: not an agent but other mail systems' TLS-RPT reports
	// (outside.go).
	outside bool
	// probes: the agent's current probe results (incremental rounds).
	probes []epProbe
}

// retired: r is older than the agent's latest round, so the agent no
// longer runs that check (a probe target or connector removed, a one-off
// report such as AGENT_SPOOL_LOSS). Its findings are no longer current.
func (a *agentInfo) retired(r *mxv1.StoredResult) bool {
	return !a.lastBatch.IsZero() && r.GetCommittedAt().AsTime().Before(a.lastBatch)
}

// obs is one finding of one agent's latest result of one check.
type obs struct {
	agent         *agentInfo
	check, target string
	f             *mxv1.Finding
	res           *mxv1.StoredResult
	committed     time.Time
	// idx is the finding's position in its result (orders duplicates).
	idx int
	// gone marks a member being removed from a bucket (ibucket.flush).
	gone bool
	// g is the group o was last made part of (incremental rounds).
	g *group
}

func (o *obs) key() refKey { return refKey{o.f.GetCode(), o.f.GetSubject()} }

type refKey struct{ code, subject string }

// view is the sorted, indexed input of a round.
type view struct {
	now     time.Time
	cfg     Config
	agents  []*agentInfo
	byID    map[string]*agentInfo
	results []*mxv1.StoredResult // sorted by agent, check, target
	// hosts maps a lower-case host name (and its first label) to agents on it.
	hosts map[string][]*agentInfo
	// probes maps a normalised endpoint (host:port) to the probe results
	// targeting it, sorted by agent.
	probes map[string][]probe
	// probesOf maps an internal host to the endpoints in probes that name
	// it (built on first use, build.go greenProbes).
	probesOf map[string][]string
	// flowObservers: site -> hosts that report protocol logs or queues.
	flowSites map[string]bool
	sites     []string
	// lookup, if set, finds a current result instead of results
	// (incremental rounds keep results per agent).
	lookup  func(agent, check, target string) *mxv1.StoredResult
	catalog *finding.Catalog
	// shown, if set, is the building bucket's last member list (build.go
	// memberList).
	shown *shownMembers
}

type probe struct {
	agent  *agentInfo
	res    *mxv1.StoredResult
	failed bool
}

// newAgentView is a view of the agents alone (no results yet).
func newAgentView(agents []*mxv1.Agent, now time.Time, cfg Config) *view {
	v := &view{now: now, cfg: cfg, catalog: finding.Default(), byID: map[string]*agentInfo{}, hosts: map[string][]*agentInfo{}, probes: map[string][]probe{}, flowSites: map[string]bool{}}
	for _, a := range agents {
		host := strings.ToLower(strings.TrimSuffix(a.GetHostname(), "."))
		if host == "" {
			host = strings.ToLower(a.GetAgentId())
		}
		ai := &agentInfo{id: a.GetAgentId(), site: a.GetSite(), host: host, lastSeen: a.GetLastSeen()}
		if a.GetLastBatchAt() != nil {
			ai.lastBatch = a.GetLastBatchAt().AsTime()
		}
		ai.silent = isSilent(a, now, cfg)
		v.agents = append(v.agents, ai)
	}
	slices.SortFunc(v.agents, func(a, b *agentInfo) int { return cmp.Compare(a.id, b.id) })
	siteSet := map[string]bool{}
	for _, a := range v.agents {
		v.byID[a.id] = a
		siteSet[a.site] = true
		v.hosts[a.host] = append(v.hosts[a.host], a)
		if short, _, ok := strings.Cut(a.host, "."); ok {
			v.hosts[short] = append(v.hosts[short], a)
		}
	}
	v.sites = sortedKeys(siteSet)
	return v
}

// isSilent: the agent was not heard from for SilentAfter.
func isSilent(a *mxv1.Agent, now time.Time, cfg Config) bool {
	return a.GetLastSeen() != nil && now.Sub(a.GetLastSeen().AsTime()) > cfg.SilentAfter
}

func newView(in Input, cfg Config) *view {
	v := newAgentView(in.Agents, in.Now, cfg)
	v.results = make([]*mxv1.StoredResult, 0, len(in.Results))
	for _, r := range in.Results {
		if a := v.byID[r.GetAgentId()]; a == nil || !a.retired(r) {
			v.results = append(v.results, r)
		}
	}
	slices.SortFunc(v.results, func(a, b *mxv1.StoredResult) int {
		return compareStrings(a.GetAgentId(), b.GetAgentId(), a.GetResult().GetCheck(), b.GetResult().GetCheck(),
			a.GetResult().GetTarget(), b.GetResult().GetTarget())
	})
	for _, r := range v.results {
		a := v.agent(r.GetAgentId())
		switch r.GetResult().GetCheck() {
		case "protocol_log", "queue":
			v.flowSites[a.site] = true
		}
		if ep := probeEndpoint(r.GetResult()); ep != "" {
			st := r.GetResult().GetStatus()
			v.probes[ep] = append(v.probes[ep], probe{agent: a, res: r, failed: st == mxv1.CheckStatus_CHECK_STATUS_FAIL || st == mxv1.CheckStatus_CHECK_STATUS_ERROR})
		}
	}
	return v
}

// agent returns the agent by id; results of an agent that never said Hello
// get a placeholder (site "").
func (v *view) agent(id string) *agentInfo {
	if a := v.byID[id]; a != nil {
		return a
	}
	a := &agentInfo{id: id, host: strings.ToLower(id)}
	if id == tlsrpt.AgentID {
		a = outsideObserver()
	}
	v.byID[id] = a
	return a
}

// internalHost returns the canonical host name of an agent's server that
// the host name h refers to ("" when none does).
func (v *view) internalHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if as := v.hosts[h]; len(as) > 0 {
		return as[0].host
	}
	if short, _, ok := strings.Cut(h, "."); ok {
		if as := v.hosts[short]; len(as) == 1 {
			return as[0].host
		}
	}
	return ""
}

// observations lists every finding at or above MinSeverity, in result order.
func (v *view) observations() []*obs {
	var out []*obs
	for _, r := range v.results {
		a := v.agent(r.GetAgentId())
		out = appendObs(out, a, r, v.cfg.MinSeverity)
	}
	return out
}

// appendObs appends the findings of r at or above min.
func appendObs(out []*obs, a *agentInfo, r *mxv1.StoredResult, min mxv1.Severity) []*obs {
	for i, f := range r.GetResult().GetFindings() {
		if f.GetSeverity() < min {
			continue
		}
		out = append(out, &obs{agent: a, check: r.GetResult().GetCheck(), target: r.GetResult().GetTarget(), f: f, res: r, committed: r.GetCommittedAt().AsTime(), idx: i})
	}
	return out
}

// group is one root finding of one agent with the symptoms it explains there.
type group struct {
	agent    *agentInfo
	root     *obs
	symptoms []*obs

	// What its route depends on (route.go features).
	kind                    groupKind
	code, ident, ep, target string
	remote                  string
	dir                     mxv1.FlowDirection
	worst                   mxv1.Severity

	// Kept by incremental rounds: the group's position among its agent's
	// groups and its current route.
	gidx   int
	route  route
	routed bool
}

// fold groups one agent's observations under their root causes: a finding
// whose explained_by names a finding present on the same agent that is
// itself unexplained becomes that root's symptom. obsOfAgent is in result
// order; groups come out sorted by root code and subject.
func fold(obsOfAgent []*obs) []*group {
	if len(obsOfAgent) <= smallFold {
		return foldSmall(obsOfAgent)
	}
	return foldMap(obsOfAgent)
}

// foldMap is fold for many observations.
func foldMap(obsOfAgent []*obs) []*group {
	idx := map[refKey]*obs{}
	for _, o := range obsOfAgent {
		if _, ok := idx[o.key()]; !ok {
			idx[o.key()] = o
		}
	}
	groups := map[refKey]*group{}
	var order []refKey
	rootOf := func(o *obs) *obs {
		if len(o.f.GetExplainedBy()) == 0 {
			return nil
		}
		refs := slices.Clone(o.f.GetExplainedBy())
		slices.SortFunc(refs, func(a, b *mxv1.FindingRef) int {
			return cmp.Or(cmp.Compare(a.GetCode(), b.GetCode()), cmp.Compare(a.GetSubject(), b.GetSubject()))
		})
		for _, r := range refs {
			if c := idx[refKey{r.GetCode(), r.GetSubject()}]; c != nil && len(c.f.GetExplainedBy()) == 0 {
				return c
			}
		}
		return nil
	}
	seen := map[*obs]bool{}
	for _, o := range obsOfAgent {
		if seen[o] {
			continue
		}
		seen[o] = true
		root := rootOf(o)
		if root == nil {
			root = o
		}
		k := root.key()
		g := groups[k]
		if g == nil {
			g = &group{agent: o.agent, root: idx[k]}
			groups[k] = g
			order = append(order, k)
		}
		if o != g.root {
			g.symptoms = append(g.symptoms, o)
		}
	}
	slices.SortFunc(order, func(a, b refKey) int { return cmp.Or(cmp.Compare(a.code, b.code), cmp.Compare(a.subject, b.subject)) })
	out := make([]*group, len(order))
	for i, k := range order {
		out[i] = groups[k]
	}
	return out
}

// probeEndpoint is the normalised host:port a probe result targets ("" for
// other checks).
func probeEndpoint(r *mxv1.CheckResult) string {
	if r.GetCheck() != "smtp_probe" {
		return ""
	}
	return normEndpoint(r.GetTarget())
}

func normEndpoint(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	return s
}

// endpointHost is the host part of host:port (brackets removed).
func endpointHost(ep string) string {
	if i := strings.LastIndexByte(ep, ':'); i > 0 && !strings.HasSuffix(ep, "]") {
		ep = ep[:i]
	}
	return strings.TrimSuffix(strings.Trim(ep, "[]"), ".")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// compareStrings compares pairs (a0, b0), (a1, b1), ... in order and
// returns the first difference, comparing no further.
func compareStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// smallFold: up to this many observations fold by linear search (an
// agent's round has a few dozen), which allocates little.
const smallFold = 48

// foldSmall is fold without maps.
func foldSmall(obsOfAgent []*obs) []*group {
	plan := foldPlan(obsOfAgent, nil)
	out := make([]*group, len(plan))
	for i, p := range plan {
		out[i] = p.group()
	}
	return out
}

// plannedGroup is a group of foldPlan: its root and symptoms, before a
// group is made of it (an incremental round keeps the group it already
// has when the two are the same).
type plannedGroup struct {
	agent    *agentInfo
	root     *obs
	symptoms []*obs
}

// group makes the group (its own copy of the symptoms).
func (p plannedGroup) group() *group {
	g := &group{agent: p.agent, root: p.root}
	p.root.g = g
	if len(p.symptoms) > 0 {
		g.symptoms = slices.Clone(p.symptoms)
		for _, o := range g.symptoms {
			o.g = g
		}
	}
	return g
}

// foldPlan is foldSmall's grouping into buf (reused, its symptom lists
// too), sorted by root code and subject.
func foldPlan(obsOfAgent []*obs, buf []plannedGroup) []plannedGroup {
	first := func(k refKey) *obs {
		for _, o := range obsOfAgent {
			if o.f.GetCode() == k.code && o.f.GetSubject() == k.subject {
				return o
			}
		}
		return nil
	}
	rootOf := func(o *obs) *obs {
		refs := o.f.GetExplainedBy()
		if len(refs) == 0 {
			return nil
		}
		if len(refs) > 1 {
			refs = slices.Clone(refs)
			slices.SortFunc(refs, func(a, b *mxv1.FindingRef) int {
				return cmp.Or(cmp.Compare(a.GetCode(), b.GetCode()), cmp.Compare(a.GetSubject(), b.GetSubject()))
			})
		}
		for _, r := range refs {
			if c := first(refKey{r.GetCode(), r.GetSubject()}); c != nil && len(c.f.GetExplainedBy()) == 0 {
				return c
			}
		}
		return nil
	}
	out := buf[:0]
	for _, o := range obsOfAgent {
		root := rootOf(o)
		if root == nil {
			root = o
		}
		code, subject := root.f.GetCode(), root.f.GetSubject()
		gi := -1
		for i := range out {
			if x := out[i].root.f; x.GetCode() == code && x.GetSubject() == subject {
				gi = i
				break
			}
		}
		if gi < 0 {
			gi = len(out)
			if gi < cap(out) {
				out = out[:gi+1]
				out[gi] = plannedGroup{agent: o.agent, root: first(refKey{code, subject}), symptoms: out[gi].symptoms[:0]}
			} else {
				out = append(out, plannedGroup{agent: o.agent, root: first(refKey{code, subject})})
			}
		}
		if o != out[gi].root {
			out[gi].symptoms = append(out[gi].symptoms, o)
		}
	}
	slices.SortFunc(out, func(a, b plannedGroup) int {
		return cmp.Or(cmp.Compare(a.root.f.GetCode(), b.root.f.GetCode()), cmp.Compare(a.root.f.GetSubject(), b.root.f.GetSubject()))
	})
	return out
}
