package correlate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
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

var roleOrder = map[string]int{roleRoot: 0, roleSymptom: 1, rolePeer: 2, roleMember: 3}

func (v *view) build(b *bucket) *candidate {
	c := &candidate{key: b.key, fingerprint: incident.Fingerprint(b.key.scope, b.key.cause, b.key.subject), dir: b.dir,
		immediate: b.key.cause == string(finding.AgentSpoolLoss)}
	if b.key.cause == string(finding.AgentSilent) {
		v.buildSilent(b, c)
		return c
	}
	ms := slices.Clone(b.members)
	slices.SortFunc(ms, func(x, y member) int {
		return cmp.Or(cmp.Compare(roleOrder[x.role], roleOrder[y.role]), cmp.Compare(x.o.agent.id, y.o.agent.id),
			cmp.Compare(x.o.check, y.o.check), cmp.Compare(x.o.target, y.o.target),
			cmp.Compare(x.o.f.GetCode(), y.o.f.GetCode()), cmp.Compare(x.o.f.GetSubject(), y.o.f.GetSubject()))
	})
	ms = slices.CompactFunc(ms, func(x, y member) bool { return x.o == y.o })
	agents, hosts, sites := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var roots []member
	for _, m := range ms {
		c.severity = max(c.severity, m.o.f.GetSeverity())
		agents[m.o.agent.id] = true
		sites[m.o.agent.site] = true
		if m.role != rolePeer {
			hosts[m.o.agent.host] = true
		}
		if m.o.agent.silent {
			c.stale = true
		}
		if m.o.committed.After(c.lastCommitted) {
			c.lastCommitted = m.o.committed
		}
		if m.role == roleRoot {
			roots = append(roots, m)
		}
	}
	if b.host != "" {
		hosts[b.host] = true
	}
	c.total = len(ms)
	for i, m := range ms {
		if i >= v.cfg.MaxMembers {
			break
		}
		c.members = append(c.members, &mxv1.IncidentMember{
			AgentId: m.o.agent.id, Site: m.o.agent.site, Hostname: m.o.agent.host, Check: m.o.check, Target: m.o.target,
			Finding: m.o.f, ObservedAt: m.o.res.GetResult().GetStartedAt(), CommittedAt: m.o.res.GetCommittedAt(),
			Stale: m.o.agent.silent, Role: m.role,
		})
	}
	c.agents, c.hosts, c.sites = sortedKeys(agents), sortedKeys(hosts), sortedKeys(sites)
	// The root cause: the worst root, then by code, subject, host.
	slices.SortStableFunc(roots, func(x, y member) int {
		return cmp.Or(cmp.Compare(y.o.f.GetSeverity(), x.o.f.GetSeverity()), cmp.Compare(x.o.f.GetCode(), y.o.f.GetCode()),
			cmp.Compare(x.o.f.GetSubject(), y.o.f.GetSubject()), cmp.Compare(x.o.agent.host, y.o.agent.host))
	})
	if len(roots) > 0 {
		r := roots[0].o
		c.root = &mxv1.RootCause{Code: r.f.GetCode(), Subject: r.f.GetSubject(), Host: r.agent.host, Site: r.agent.site, Summary: r.f.GetSummary()}
		if b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE || b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON ||
			b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET || b.key.scope == mxv1.IncidentScope_INCIDENT_SCOPE_SITE {
			c.root.Host, c.root.Site = "", ""
		}
	} else if len(ms) > 0 {
		r := ms[0].o
		c.root = &mxv1.RootCause{Code: r.f.GetCode(), Subject: r.f.GetSubject(), Summary: r.f.GetSummary()}
	}
	v.direction(b, c, ms)
	c.summary, c.remediation = v.describe(b, c, roots, ms)
	return c
}

// direction states which direction of mail flow the incident breaks, from
// the members, and whether the other direction is seen working (green
// probes of the host's endpoints).
func (v *view) direction(b *bucket, c *candidate, ms []member) {
	var out, in bool
	remote := b.remote
	for _, m := range ms {
		f := m.o.f
		switch {
		case m.role == rolePeer:
			in = true
		case slices.Contains(flowCodes, f.GetCode()):
			if flowDirection(f) == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND {
				in = true
			} else {
				out = true
				if remote == "" {
					remote = flowRemote(f)
				}
			}
		case slices.Contains(connectorFailures, f.GetCode()):
			// A connector that cannot do TLS breaks its direction; an
			// ambiguous one is a risk, not a failure.
			switch f.GetEvidence()["connector_kind"] {
			case "send":
				out = true
			case "receive":
				in = true
			}
		}
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
	var out []string
	for _, ep := range sortedKeys(v.probes) {
		if v.internalHost(endpointHost(ep)) != host {
			continue
		}
		for _, p := range v.probes[ep] {
			if !p.failed && p.agent.host != host {
				out = append(out, p.agent.id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (v *view) describe(b *bucket, c *candidate, roots, ms []member) (summary, fix string) {
	sev := finding.SeverityName(c.severity)
	title := b.key.cause
	if e, ok := finding.Default().Lookup(finding.Code(b.key.cause)); ok {
		title = e.Title
	}
	rootFix := ""
	if len(roots) > 0 {
		rootFix = roots[0].o.f.GetRemediation()
	} else if len(ms) > 0 {
		rootFix = ms[0].o.f.GetRemediation()
	}
	symptoms, peers := 0, 0
	for _, m := range ms {
		switch m.role {
		case roleSymptom:
			symptoms++
		case rolePeer:
			peers++
		}
	}
	extra := ""
	if symptoms+peers > 0 {
		extra = fmt.Sprintf(" (%d symptoms, %d peer observations)", symptoms, peers)
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
		summary = fmt.Sprintf("%s %s (%s): %s%s%s", sev, b.host, siteOf(c), what, dir, extra)
		fix = onHost(b.host, rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE:
		summary = fmt.Sprintf("%s certificate %s: %s on %d servers in %d sites (%s)%s%s", sev, b.key.subject, title, len(c.hosts), len(c.sites), strings.Join(clip(c.hosts, 6), ", "), dir, extra)
		fix = perHostFix(roots)
	case mxv1.IncidentScope_INCIDENT_SCOPE_SITE:
		others := slices.Sorted(slices.Values(b.okSites))
		targets := slices.Sorted(slices.Values(b.targets))
		summary = fmt.Sprintf("%s site %s: every agent fails %s to %s while sites %s succeed", sev, b.key.subject, b.key.cause, strings.Join(clip(targets, 4), ", "), strings.Join(clip(others, 4), ", "))
		fix = fmt.Sprintf("The path from site %s is at fault, not the targets (%s reach them): check firewalls, proxies and ESMTP/SMTP inspection between site %s and %s (Cisco ASA: no inspect esmtp). %s",
			b.key.subject, strings.Join(clip(others, 4), ", "), b.key.subject, strings.Join(clip(targets, 4), ", "), rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET:
		summary = fmt.Sprintf("%s %s: agents in every site (%s) fail %s%s: the remote side", sev, b.key.subject, strings.Join(clip(c.sites, 6), ", "), b.key.cause, extra)
		fix = fmt.Sprintf("The failure is on %s's side (all %d sites see it); open a case with its operator and verify from outside (e.g. its certificate and STARTTLS). Local hint: %s", b.key.subject, len(c.sites), rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION:
		summary = fmt.Sprintf("%s %s (%s): %s%s%s", sev, b.host, siteOf(c), title, dir, extra)
		fix = onHost(b.host, rootFix)
	case mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON:
		notAfter := ""
		if len(roots) > 0 {
			notAfter = roots[0].o.f.GetEvidence()["not_after"]
		}
		summary = fmt.Sprintf("%s certificate %s expires %s; held by %d servers: %s", sev, shortIdentity(b.key.subject), notAfter, len(c.hosts), strings.Join(clip(c.hosts, 6), ", "))
		fix = fmt.Sprintf("Renew %s before %s and install it with its key on every holder (%s); then Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP on each and update TlsCertificateName. %s",
			shortIdentity(b.key.subject), notAfter, strings.Join(c.hosts, ", "), rootFix)
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
	c.root = &mxv1.RootCause{Code: string(finding.AgentSilent), Subject: b.key.subject, Site: b.key.subject, Summary: fmt.Sprintf("%d agents of site %s stopped reporting", len(agents), b.key.subject)}
	c.summary = fmt.Sprintf("WARNING site %s: %d agents silent (%s); their evidence is stale", b.key.subject, len(agents), strings.Join(clip(agents, 6), ", "))
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
func perHostFix(roots []member) string {
	byHost := map[string]string{}
	for _, r := range roots {
		if _, ok := byHost[r.o.agent.host]; !ok {
			byHost[r.o.agent.host] = r.o.f.GetRemediation()
		}
	}
	var parts []string
	for _, h := range sortedKeys(byHost) {
		parts = append(parts, onHost(h, byHost[h]))
	}
	return strings.Join(parts, " | ")
}

func siteOf(c *candidate) string {
	if c.root != nil && c.root.GetSite() != "" {
		return "site " + c.root.GetSite()
	}
	return "site " + strings.Join(c.sites, ", ")
}

// shortIdentity turns "<I>issuer<S>subject" into "subject (issuer)".
func shortIdentity(id string) string {
	if !strings.HasPrefix(id, "<I>") {
		return id
	}
	iss, sub, ok := strings.Cut(strings.TrimPrefix(id, "<I>"), "<S>")
	if !ok {
		return id
	}
	return sub + " (issued by " + iss + ")"
}

func clip(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clip(s[:n]), fmt.Sprintf("+%d more", len(s)-n))
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
