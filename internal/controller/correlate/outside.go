package correlate

import (
	"fmt"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"

	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Outside observations: TLS-RPT reports are stored as results of the
// virtual agent tlsrpt.AgentID (internal/tlsrpt derive.go), so they enter a
// round like any agent's results. The engine treats that observer
// differently in two places only:
//
//   - a report's failure on a receiving MX (an endpoint finding) is never
//     "the observer's own problem" nor a site's path problem: it folds as a
//     peer into the server or certificate incident agents opened for that
//     host, or opens a server incident for the host (inbound), or a remote
//     target incident when no agent runs there (classifyEndpoints);
//   - a report's failure that names no MX (policy fetch, DNSSEC for the
//     domain) is a remote-target incident about the domain (classify).
//
// The observer has no site and never goes silent; its evidence goes stale
// instead: a result the store aged (stale_since: no report for the domain
// within the expiry, tlsrpt/age.go) makes its members stale like a silent
// agent's. It keeps its committed_at, so it is neither a new observation
// nor a clean one: an incident it opened stays open, marked stale, until a
// later report says what senders see.
func outsideObserver() *agentInfo {
	return &agentInfo{id: tlsrpt.AgentID, host: tlsrpt.AgentID, outside: true}
}

// stale: the observation's evidence is old, its agent silent or its result
// aged by the store.
func (o *obs) stale() bool { return o.agent.silent || o.res.GetStaleSince() != nil }

// reportsOnly: every member comes from the reports (no agent observes the
// subject: it opened a remote-target incident by itself).
func reportsOnly(ms []member) bool {
	for _, m := range ms {
		if !m.o.agent.outside {
			return false
		}
	}
	return len(ms) > 0
}

// reportsOnlyText is the summary and fix of an incident only the senders'
// reports see: it says so (no agent sees it, from any site) instead of
// calling it a remote side that every site's agents see, and how to get an
// agent's view of the cause. subject is an MX endpoint (host:25) or, for
// failures that name no MX, the policy domain.
func reportsOnlyText(subject, what, rootFix string) (summary, fix string) {
	summary = fmt.Sprintf("%s: %s (only the senders' TLS-RPT reports see it; no agent observes %s)", subject, what, subject)
	inside := fmt.Sprintf("add %s to an agent's mail_domains to check its DNS, DANE and MTA-STS from inside", subject)
	if host, _, ok := strings.Cut(subject, ":"); ok {
		inside = fmt.Sprintf("run an agent on %s or add smtp://%s to an agent's probe targets (plan.probe_targets) to see its certificate and STARTTLS from inside", host, subject)
	}
	fix = fmt.Sprintf("%s To tie the reports to a cause, %s.", rootFix, inside)
	return summary, fix
}

// reportsJoinedText is the timeline comment of a reports-only incident
// resolved because its reports joined an agents' incident.
const reportsJoinedText = "superseded: an agent runs on the MX now, and these TLS-RPT reports are part of the incident on its host (the failures are not resolved)"

// reportsJoined: prev was opened by reports alone and every one of its
// findings is still what the store holds now (not aged), yet prev has no
// candidate this round. A report-only incident's bucket is fixed by its
// code and subject, so the findings went into the incident agents opened
// for the MX since (classifyEndpoints): prev is superseded. Without this it
// would wait for a clean observation, which for reports comes a day later.
func (v *view) reportsJoined(prev *mxv1.Incident) bool {
	ms := prev.GetMembers()
	if len(ms) == 0 || int(prev.GetMembersTotal()) > len(ms) {
		return false
	}
	for _, m := range ms {
		if m.GetAgentId() != tlsrpt.AgentID {
			return false
		}
		r := v.result(m.GetAgentId(), m.GetCheck(), m.GetTarget())
		if r == nil || r.GetStaleSince() != nil {
			return false
		}
		if !slices.ContainsFunc(r.GetResult().GetFindings(), func(f *mxv1.Finding) bool {
			return f.GetCode() == m.GetFinding().GetCode() && f.GetSubject() == m.GetFinding().GetSubject() && f.GetSeverity() >= v.cfg.MinSeverity
		}) {
			return false
		}
	}
	return true
}
