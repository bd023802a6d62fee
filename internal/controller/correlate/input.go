package correlate

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
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
	// flowObservers: site -> hosts that report protocol logs or queues.
	flowSites map[string]bool
	sites     []string
}

type probe struct {
	agent  *agentInfo
	res    *mxv1.StoredResult
	failed bool
}

func newView(in Input, cfg Config) *view {
	v := &view{now: in.Now, cfg: cfg, byID: map[string]*agentInfo{}, hosts: map[string][]*agentInfo{}, probes: map[string][]probe{}, flowSites: map[string]bool{}}
	for _, a := range in.Agents {
		host := strings.ToLower(strings.TrimSuffix(a.GetHostname(), "."))
		if host == "" {
			host = strings.ToLower(a.GetAgentId())
		}
		ai := &agentInfo{id: a.GetAgentId(), site: a.GetSite(), host: host, lastSeen: a.GetLastSeen()}
		if a.GetLastBatchAt() != nil {
			ai.lastBatch = a.GetLastBatchAt().AsTime()
		}
		ai.silent = a.GetLastSeen() != nil && in.Now.Sub(a.GetLastSeen().AsTime()) > cfg.SilentAfter
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
	v.results = make([]*mxv1.StoredResult, 0, len(in.Results))
	for _, r := range in.Results {
		if a := v.byID[r.GetAgentId()]; a == nil || !a.retired(r) {
			v.results = append(v.results, r)
		}
	}
	slices.SortFunc(v.results, func(a, b *mxv1.StoredResult) int {
		return cmp.Or(cmp.Compare(a.GetAgentId(), b.GetAgentId()), cmp.Compare(a.GetResult().GetCheck(), b.GetResult().GetCheck()),
			cmp.Compare(a.GetResult().GetTarget(), b.GetResult().GetTarget()))
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
		for _, f := range r.GetResult().GetFindings() {
			if f.GetSeverity() < v.cfg.MinSeverity {
				continue
			}
			out = append(out, &obs{agent: a, check: r.GetResult().GetCheck(), target: r.GetResult().GetTarget(), f: f, res: r, committed: r.GetCommittedAt().AsTime()})
		}
	}
	return out
}

// group is one root finding of one agent with the symptoms it explains there.
type group struct {
	agent    *agentInfo
	root     *obs
	symptoms []*obs
}

// fold groups one agent's observations under their root causes: a finding
// whose explained_by names a finding present on the same agent that is
// itself unexplained becomes that root's symptom. obsOfAgent is in result
// order; groups come out sorted by root code and subject.
func fold(obsOfAgent []*obs) []*group {
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
