package correlate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/fleet"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// candidate is an incident's content as computed this round, before the
// lifecycle (state, sequence, timeline) is merged in.
type candidate struct {
	key         bucketKey
	fingerprint string
	severity    mxv1.Severity
	members     []*mxv1.IncidentMember
	total       int
	agents      []string
	hosts       []string
	sites       []string
	summary     string
	root        *mxv1.RootCause
	remediation string
	dir         mxv1.FlowDirection
	dirDetail   string
	stale       bool
	// newest committed_at of the results behind the members (leader clock).
	lastCommitted time.Time
	// immediate: no damping (AGENT_SILENT: SilentAfter already waited;
	// AGENT_SPOOL_LOSS: reported once, in one round).
	immediate bool
}

// connectorFailures are connector findings that mean TLS on that connector fails.
var connectorFailures = []string{string(finding.ConnectorSelectsKeyless), string(finding.ConnectorCertNotFound), string(finding.ConnectorTLSNameInvalid)}

func roleRank(role string) int {
	switch role {
	case roleRoot:
		return 0
	case roleSymptom:
		return 1
	case rolePeer:
		return 2
	}
	return 3
}

// memberCmp orders an incident's members: by role, agent, check, target,
// code, subject and position in the result (a total order: one finding
// of one result is one member).
func memberCmp(x, y member) int {
	// Compared field by field, stopping at the first difference (cmp.Or
	// would evaluate every comparison).
	if c := cmp.Compare(roleRank(x.role), roleRank(y.role)); c != 0 {
		return c
	}
	if c := compareStrings(x.o.agent.id, y.o.agent.id, x.o.check, y.o.check, x.o.target, y.o.target,
		x.o.f.GetCode(), y.o.f.GetCode(), x.o.f.GetSubject(), y.o.f.GetSubject()); c != 0 {
		return c
	}
	return cmp.Compare(x.o.idx, y.o.idx)
}

// rootCmp orders root causes: the worst first, then by code, subject, host.
func rootCmp(x, y member) int {
	if c := cmp.Compare(y.o.f.GetSeverity(), x.o.f.GetSeverity()); c != 0 {
		return c
	}
	return compareStrings(x.o.f.GetCode(), y.o.f.GetCode(), x.o.f.GetSubject(), y.o.f.GetSubject(), x.o.agent.host, y.o.agent.host)
}

// build makes a bucket's candidate.
func (v *view) build(b *bucket) *candidate {
	if b.key.cause == string(finding.AgentSilent) {
		return v.buildFrom(b, nil, nil, nil, nil)
	}
	ms := slices.Clone(b.members)
	slices.SortFunc(ms, memberCmp)
	ms = slices.CompactFunc(ms, func(x, y member) bool { return x.o == y.o })
	agents, hosts, sites := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		agents[m.o.agent.id] = true
		if !m.o.agent.outside { // the reports' observer has no site or host
			sites[m.o.agent.site] = true
			if m.role != rolePeer {
				hosts[m.o.agent.host] = true
			}
		}
	}
	return v.buildFrom(b, ms, sortedKeys(agents), sortedKeys(hosts), sortedKeys(sites))
}

// buildFrom makes the candidate of b from its members ms (sorted by
// memberCmp, no duplicates) and the sorted sets of their agents, hosts
// (peers' not counted) and sites (the reports' observer has neither),
// which the candidate keeps.
func (v *view) buildFrom(b *bucket, ms []member, agents, hosts, sites []string) *candidate {
	if b.key.cause == string(finding.AgentSilent) {
		return v.finish(b, nil, nil, nil, nil, agg{})
	}
	return v.finish(b, ms, agents, hosts, sites, aggregate(b, ms))
}

// agg is what a candidate needs from all of its members; a full round
// computes it from the members (aggregate), an incremental one keeps it
// up to date as members come and go (ibucket).
type agg struct {
	severity      mxv1.Severity
	stale         bool
	lastCommitted time.Time
	// root: the first of the worst roots (rootCmp, then member order).
	root *member
	// roots: every root, in member order (certificate incidents only).
	roots           []member
	symptoms, peers int
	out, in         bool
	// remote: the first remote an outbound flow member names.
	remote string
}

// memberDirection: which direction a member says fails, and the remote
// of an outbound flow.
func memberDirection(m member) (in, out bool, remote string, outFlow bool) {
	f := m.o.f
	switch {
	case m.role == rolePeer:
		return true, false, "", false
	case slices.Contains(flowCodes, f.GetCode()):
		if flowDirection(f) == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND {
			return true, false, "", false
		}
		return false, true, flowRemote(f), true
	case slices.Contains(connectorFailures, f.GetCode()):
		// A connector that cannot do TLS breaks its direction; an
		// ambiguous one is a risk, not a failure.
		switch f.GetEvidence()["connector_kind"] {
		case "send":
			return false, true, "", false
		case "receive":
			return true, false, "", false
		}
	}
	return false, false, "", false
}

// rootBefore: root member x is chosen over y.
func rootBefore(x, y member) bool {
	if c := rootCmp(x, y); c != 0 {
		return c < 0
	}
	return memberCmp(x, y) < 0
}

func aggregate(b *bucket, ms []member) agg {
	var a agg
	keepRoots := b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE
	for i := range ms {
		m := ms[i]
		a.severity = max(a.severity, m.o.f.GetSeverity())
		if m.o.stale() {
			a.stale = true
		}
		if m.o.committed.After(a.lastCommitted) {
			a.lastCommitted = m.o.committed
		}
		switch m.role {
		case roleRoot:
			if keepRoots {
				a.roots = append(a.roots, m)
			}
			if a.root == nil || rootCmp(m, *a.root) < 0 {
				a.root = &ms[i]
			}
		case roleSymptom:
			a.symptoms++
		case rolePeer:
			a.peers++
		}
		in, out, remote, outFlow := memberDirection(m)
		a.in, a.out = a.in || in, a.out || out
		if outFlow && a.remote == "" {
			a.remote = remote
		}
	}
	return a
}

// finish makes the candidate of b from its members ms and what they add
// up to.
func (v *view) finish(b *bucket, ms []member, agents, hosts, sites []string, a agg) *candidate {
	fp := b.fingerprint
	if fp == "" {
		fp = incident.Fingerprint(b.key.scope, b.key.cause, b.key.subject)
	}
	c := &candidate{key: b.key, fingerprint: fp, dir: b.dir, immediate: b.key.cause == string(finding.AgentSpoolLoss)}
	if b.key.cause == string(finding.AgentSilent) {
		v.buildSilent(b, c)
		return c
	}
	c.severity, c.stale, c.lastCommitted = a.severity, a.stale, a.lastCommitted
	root := a.root
	if b.host != "" {
		if i, ok := slices.BinarySearch(hosts, b.host); !ok {
			hosts = slices.Insert(slices.Clip(hosts), i, b.host)
		}
	}
	c.total = len(ms)
	c.members = v.memberList(ms)
	if hosts == nil {
		hosts = []string{}
	}
	c.agents, c.hosts, c.sites = nonNil(agents), hosts, nonNil(sites)
	if root != nil {
		r := root.o
		c.root = &mxv1.RootCause{Code: r.f.GetCode(), Subject: r.f.GetSubject(), Host: r.agent.host, Site: r.agent.site, Summary: r.f.GetSummary()}
		if b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE || b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON ||
			b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET || b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_SITE {
			c.root.Host, c.root.Site = "", ""
		}
	} else if len(ms) > 0 {
		r := ms[0].o
		c.root = &mxv1.RootCause{Code: r.f.GetCode(), Subject: r.f.GetSubject(), Summary: r.f.GetSummary()}
	}
	v.direction(b, c, a)
	c.summary, c.remediation = v.describe(b, c, root, a, ms)
	return c
}

// shownMembers: the members a candidate listed (first MaxMembers) and
// their messages, which incremental rounds keep while the members and
// their staleness stay the same.
type shownMembers struct {
	ms []member
	// Of each member as listed: staleness, result and finding (an
	// observation moves to a new result with the same findings,
	// refreshObs).
	stale []bool
	res   []*mxv1.StoredResult
	f     []*mxv1.Finding
	list  []*mxv1.IncidentMember
	// horizon: the fleet-horizon fix last written (horizonFix).
	horizon horizonText
}

// horizonText is a fleet-horizon fix, which names every holder (about
// 115 KB at 100,000 findings), and what it was written from: the
// candidate's hosts (a counter's sorted keys, a new list on every
// change and never modified, so the same first element and length are
// the same list) and the other parts of the text.
type horizonText struct {
	hosts                      []string
	subject, notAfter, rootFix string
	fix                        string
}

// horizonFix is the fleet-horizon fix of the certificate subject (as
// shortIdentity reads it) expiring notAfter, held by hosts:
//
//	fmt.Sprintf("Renew %s before %s and install it with its key on every holder (%s); then Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP on each and update TlsCertificateName. %s",
//		subject, notAfter, strings.Join(hosts, ", "), rootFix)
//
// written in one allocation of its size, and kept for the building
// bucket (v.shown) while it is written from the same parts, so a round
// that leaves the holders alone does not write it again.
func (v *view) horizonFix(subject, notAfter string, hosts []string, rootFix string) string {
	sh := v.shown
	if sh != nil {
		h := &sh.horizon
		if len(hosts) == len(h.hosts) && (len(hosts) == 0 || &hosts[0] == &h.hosts[0]) && h.fix != "" &&
			subject == h.subject && notAfter == h.notAfter && rootFix == h.rootFix {
			return h.fix
		}
	}
	const (
		p1  = "Renew "
		p2  = " before "
		p3  = " and install it with its key on every holder ("
		p4  = "); then Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP on each and update TlsCertificateName. "
		sep = ", "
	)
	n := len(p1) + len(subject) + len(p2) + len(notAfter) + len(p3) + len(p4) + len(rootFix)
	for i, h := range hosts {
		if i > 0 {
			n += len(sep)
		}
		n += len(h)
	}
	var w strings.Builder
	w.Grow(n)
	w.WriteString(p1)
	w.WriteString(subject)
	w.WriteString(p2)
	w.WriteString(notAfter)
	w.WriteString(p3)
	for i, h := range hosts {
		if i > 0 {
			w.WriteString(sep)
		}
		w.WriteString(h)
	}
	w.WriteString(p4)
	w.WriteString(rootFix)
	fix := w.String()
	if sh != nil {
		sh.horizon = horizonText{hosts: hosts, subject: subject, notAfter: notAfter, rootFix: rootFix, fix: fix}
	}
	return fix
}

func (sh *shownMembers) same(ms []member) bool {
	if len(ms) != len(sh.ms) {
		return false
	}
	for i, m := range ms {
		if m != sh.ms[i] || m.o.stale() != sh.stale[i] || m.o.res != sh.res[i] || m.o.f != sh.f[i] {
			return false
		}
	}
	return true
}

// memberList is the first MaxMembers members as the incident shows them.
func (v *view) memberList(ms []member) []*mxv1.IncidentMember {
	if len(ms) > v.cfg.MaxMembers {
		ms = ms[:v.cfg.MaxMembers]
	}
	if v.shown != nil {
		if v.shown.same(ms) {
			return v.shown.list
		}
		sh := shownMembers{horizon: v.shown.horizon, ms: slices.Clone(ms), stale: make([]bool, len(ms)), res: make([]*mxv1.StoredResult, len(ms)), f: make([]*mxv1.Finding, len(ms)),
			list: make([]*mxv1.IncidentMember, len(ms))}
		// A member listed before as it is now keeps its message (both
		// lists are in member order).
		old := v.shown
		j := 0
		for i, m := range ms {
			sh.stale[i], sh.res[i], sh.f[i] = m.o.stale(), m.o.res, m.o.f
			for j < len(old.ms) && old.ms[j] != m && memberCmp(old.ms[j], m) < 0 {
				j++
			}
			if j < len(old.ms) && old.ms[j] == m && old.stale[j] == sh.stale[i] && old.res[j] == m.o.res && old.f[j] == m.o.f {
				sh.list[i] = old.list[j]
				j++
				continue
			}
			sh.list[i] = newMember(m)
		}
		*v.shown = sh
		return sh.list
	}
	return v.newMemberList(ms)
}

func (v *view) newMemberList(ms []member) []*mxv1.IncidentMember {
	var out []*mxv1.IncidentMember
	for _, m := range ms {
		out = append(out, newMember(m))
	}
	return out
}

func newMember(m member) *mxv1.IncidentMember {
	return &mxv1.IncidentMember{
		AgentId: m.o.agent.id, Site: m.o.agent.site, Hostname: m.o.agent.host, Check: m.o.check, Target: m.o.target,
		Finding: m.o.f, ObservedAt: m.o.res.GetResult().GetStartedAt(), CommittedAt: m.o.res.GetCommittedAt(),
		Stale: m.o.stale(), Role: m.role,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// direction states which direction of mail flow the incident breaks, from
// the members, and whether the other direction is seen working (green
// probes of the host's endpoints).
func (v *view) direction(b *bucket, c *candidate, a agg) {
	out, in := a.out, a.in
	remote := b.remote
	if remote == "" {
		remote = a.remote
	}
	switch {
	case out && in:
		c.dir = mxv1.FlowDirection_FLOW_DIRECTION_BOTH
	case out:
		c.dir = mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND
	case in:
		c.dir = mxv1.FlowDirection_FLOW_DIRECTION_INBOUND
	}
	host := b.host
	if host == "" && len(c.hosts) == 1 {
		host = c.hosts[0]
	}
	if host == "" || c.dir == mxv1.FlowDirection_FLOW_DIRECTION_UNSPECIFIED {
		return
	}
	if remote == "" {
		remote = "remote servers"
	}
	green := v.greenProbes(host)
	switch c.dir {
	case mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND:
		c.dirDetail = fmt.Sprintf("outbound %s -> %s fails", host, remote)
		if len(green) > 0 {
			c.dirDetail += fmt.Sprintf("; inbound -> %s works (%d checks green: %s)", host, len(green), strings.Join(clip(green, 5), ", "))
		} else {
			c.dirDetail += "; inbound not observed"
		}
	case mxv1.FlowDirection_FLOW_DIRECTION_INBOUND:
		c.dirDetail = fmt.Sprintf("inbound -> %s fails", host)
	default:
		c.dirDetail = fmt.Sprintf("outbound %s -> %s and inbound -> %s fail", host, remote, host)
	}
}

// greenProbes lists agents whose latest probe of one of host's endpoints
// succeeded.
func (v *view) greenProbes(host string) []string {
	if v.probesOf == nil {
		// Once per round: the endpoints of each internal host.
		v.probesOf = map[string][]string{}
		for ep := range v.probes {
			if h := v.internalHost(endpointHost(ep)); h != "" {
				v.probesOf[h] = append(v.probesOf[h], ep)
			}
		}
	}
	var out []string
	for _, ep := range v.probesOf[host] {
		for _, p := range v.probes[ep] {
			if !p.failed && p.agent.host != host {
				out = append(out, p.agent.id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (v *view) describe(b *bucket, c *candidate, root *member, a agg, ms []member) (summary, fix string) {
	title := b.key.cause
	if e, ok := v.catalog.Lookup(finding.Code(b.key.cause)); ok {
		title = e.Title
	}
	rootFix := ""
	if root != nil {
		rootFix = root.o.f.GetRemediation()
	} else if len(ms) > 0 {
		rootFix = ms[0].o.f.GetRemediation()
	}
	symptoms, peers := a.symptoms, a.peers
	var counted []string
	if symptoms > 0 {
		counted = append(counted, text.Count(symptoms, "symptom"))
	}
	if peers > 0 {
		counted = append(counted, text.Count(peers, "peer observation"))
	}
	extra := ""
	if len(counted) > 0 {
		extra = " (" + strings.Join(counted, ", ") + ")"
	}
	dir := ""
	if c.dirDetail != "" {
		dir = "; " + c.dirDetail
	}
	switch b.key.scope {
	case mxv1.IncidentScope_INCIDENT_SCOPE_SERVER:
		what := title
		if c.root != nil && c.root.GetSummary() != "" {
			what = c.root.GetSummary()
		}
		summary = fmt.Sprintf("%s (%s): %s%s%s", b.host, v.siteOf(c, b.host), what, dir, extra)
		fix = onHost(b.host, rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE:
		summary = fmt.Sprintf("Certificate %s: %s on %s in %s (%s)%s%s", shortIdentity(b.key.subject), title, text.Count(len(c.hosts), "server"), text.Count(len(c.sites), "site"), strings.Join(clip(c.hosts, 6), ", "), dir, extra)
		fix = perHostFix(a.roots)
	case mxv1.IncidentScope_INCIDENT_SCOPE_SITE:
		others := slices.Sorted(slices.Values(b.okSites))
		targets := slices.Sorted(slices.Values(b.targets))
		summary = fmt.Sprintf("Site %s: every agent fails %s to %s while %s %s succeed", b.key.subject, title, strings.Join(clip(targets, 4), ", "), text.Noun(len(others), "site"), strings.Join(clip(others, 4), ", "))
		fix = fmt.Sprintf("The path from site %s is at fault, not the targets (%s reach them): check firewalls, proxies and ESMTP/SMTP inspection between site %s and %s (Cisco ASA: no inspect esmtp). %s",
			b.key.subject, strings.Join(clip(others, 4), ", "), b.key.subject, strings.Join(clip(targets, 4), ", "), rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET:
		if reportsOnly(ms) {
			summary, fix = reportsOnlyText(b.key.subject, c.root.GetSummary(), rootFix)
			break
		}
		summary = fmt.Sprintf("%s: agents in every site (%s) see %s%s: the remote side", b.key.subject, strings.Join(clip(c.sites, 6), ", "), title, extra)
		fix = fmt.Sprintf("The failure is on %s's side (%s); open a case with its operator and verify from outside (e.g. its certificate and STARTTLS). Local hint: %s", b.key.subject, seenFrom(c.sites), rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION:
		summary = fmt.Sprintf("%s (%s): %s%s%s", b.host, v.siteOf(c, b.host), title, dir, extra)
		fix = onHost(b.host, rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON:
		notAfter := ""
		if root != nil {
			notAfter = root.o.f.GetEvidence()["not_after"]
		}
		summary = fmt.Sprintf("Certificate %s expires %s; held by %s: %s", shortIdentity(b.key.subject), notAfter, text.Count(len(c.hosts), "server"), strings.Join(clip(c.hosts, 6), ", "))
		fix = v.horizonFix(shortIdentity(b.key.subject), notAfter, c.hosts, rootFix)
	}
	return summary, fix
}

func (v *view) buildSilent(b *bucket, c *candidate) {
	c.immediate = true
	c.severity = mxv1.Severity_SEVERITY_WARNING
	var hosts, agents []string
	for _, a := range b.silent {
		agents = append(agents, a.id)
		hosts = append(hosts, a.host)
		since := a.lastSeen.AsTime().UTC().Format(time.RFC3339)
		f := &mxv1.Finding{Code: string(finding.AgentSilent), Severity: mxv1.Severity_SEVERITY_WARNING, Subject: a.id, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_HOST,
			Summary:     fmt.Sprintf("Agent %s on %s (site %s) silent since %s", a.id, a.host, a.site, since),
			Evidence:    map[string]string{"last_seen": since},
			Remediation: fmt.Sprintf("Check the mxprobe agent service on %s and its network path to the controllers.", a.host)}
		if len(c.members) < v.cfg.MaxMembers {
			c.members = append(c.members, &mxv1.IncidentMember{AgentId: a.id, Site: a.site, Hostname: a.host, Finding: f, ObservedAt: a.lastSeen, Stale: true, Role: roleMember})
		}
	}
	c.total = len(b.silent)
	c.agents, c.hosts, c.sites = agents, slices.Compact(slices.Sorted(slices.Values(hosts))), []string{b.key.subject}
	c.stale = true
	c.root = &mxv1.RootCause{Code: string(finding.AgentSilent), Subject: b.key.subject, Site: b.key.subject, Summary: fmt.Sprintf("%s of site %s stopped reporting", text.Count(len(agents), "agent"), b.key.subject)}
	c.summary = fmt.Sprintf("Site %s: %s silent (%s); %s evidence is stale", b.key.subject, text.Count(len(agents), "agent"), strings.Join(clip(agents, 6), ", "), map[bool]string{true: "its", false: "their"}[len(agents) == 1])
	c.remediation = fmt.Sprintf("Check the mxprobe agent service on %s and the network path from site %s to the controllers.", strings.Join(c.hosts, ", "), b.key.subject)
}

// onHost names the host in a fix unless the agent's remediation already does.
func onHost(host, fix string) string {
	if strings.Contains(strings.ToLower(fix), strings.ToLower(host)) {
		return fix
	}
	return fmt.Sprintf("On %s: %s", host, fix)
}

// perHostFix lists each host's own remediation of the root cause.
// roots are in member order; each host's is its first of the worst
// (rootCmp).
func perHostFix(roots []member) string {
	byHost := map[string]member{}
	for _, r := range roots {
		if cur, ok := byHost[r.o.agent.host]; !ok || rootCmp(r, cur) < 0 {
			byHost[r.o.agent.host] = r
		}
	}
	var parts []string
	for _, h := range sortedKeys(byHost) {
		parts = append(parts, onHost(h, byHost[h].o.f.GetRemediation()))
	}
	return strings.Join(parts, " | ")
}

// siteOf names where a host incident is: its root's site, else its
// members' sites, else the sites of the agents running on the host (an
// incident opened by TLS-RPT reports alone has members without a site).
func (v *view) siteOf(c *candidate, host string) string {
	if c.root != nil && c.root.GetSite() != "" {
		return "site " + c.root.GetSite()
	}
	sites := c.sites
	if len(sites) == 0 {
		set := map[string]bool{}
		for _, a := range v.hosts[strings.ToLower(host)] {
			if a.site != "" {
				set[a.site] = true
			}
		}
		sites = sortedKeys(set)
	}
	if len(sites) == 0 {
		return "site unknown"
	}
	return text.Noun(len(sites), "site") + " " + strings.Join(sites, ", ")
}

// shortIdentity turns "<I>issuer<S>subject" into "subject (issued by issuer)".
func shortIdentity(id string) string { return fleet.ReadableIdentity(id) }

func clip(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clip(s[:n]), fmt.Sprintf("+%d more", len(s)-n))
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// seenFrom says which sites see a remote target fail, in words that fit
// one site as well as many.
func seenFrom(sites []string) string {
	switch len(sites) {
	case 0:
		return "no site reports it"
	case 1:
		return "seen from " + sites[0] + ", the only site probing it"
	case 2:
		return "both sites probing it see it: " + strings.Join(sites, " and ")
	}
	return fmt.Sprintf("all %s probing it see it: %s", text.Count(len(sites), "site"), strings.Join(clip(sites, 6), ", "))
}
