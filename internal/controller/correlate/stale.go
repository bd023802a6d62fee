package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Stale evidence has two sources (obs.stale): agents gone silent and
// TLS-RPT reports that stopped (results the store aged). The incident's
// timeline says which, and the mark goes as soon as the evidence is current
// again, also when what comes back is clean and the incident stays open
// until it has been clean long enough.

// staleText is the timeline comment when an incident's evidence becomes
// stale: which agents went silent, which domains' reports stopped.
func staleText(members []*mxv1.IncidentMember) string {
	var agents, reports []string
	seen := map[string]bool{}
	for _, m := range members {
		if !m.GetStale() || seen[m.GetAgentId()+"\x00"+m.GetTarget()] {
			continue
		}
		seen[m.GetAgentId()+"\x00"+m.GetTarget()] = true
		if m.GetAgentId() != tlsrpt.AgentID {
			if !slices.Contains(agents, m.GetAgentId()) {
				agents = append(agents, m.GetAgentId())
			}
			continue
		}
		d, _ := tlsrpt.TargetDomain(m.GetTarget())
		if slices.ContainsFunc(reports, func(s string) bool { return strings.HasPrefix(s, d+" ") }) {
			continue
		}
		ev := m.GetFinding().GetEvidence()
		since := "none stored"
		if t, err := time.Parse(time.RFC3339, ev["last_report_end"]); err == nil {
			since = "none since " + t.UTC().Format("2006-01-02 15:04 MST")
		}
		if e := ev["expire_after"]; e != "" {
			since += ", due within " + e
		}
		reports = append(reports, fmt.Sprintf("%s (%s)", d, since))
	}
	var parts []string
	if len(reports) > 0 {
		slices.Sort(reports)
		parts = append(parts, "TLS-RPT reports stopped for "+strings.Join(clip(reports, 6), ", ")+": what senders see now is unknown")
	}
	if len(agents) > 0 {
		slices.Sort(agents)
		parts = append(parts, "evidence from silent agents ("+strings.Join(clip(agents, 6), ", ")+") is stale")
	}
	if len(parts) == 0 {
		return "evidence is stale"
	}
	return strings.Join(parts, "; ")
}

// freshen clears the stale mark of next's members whose evidence is
// current again (their check has a result that is not aged and their agent
// is not silent), sets next.Stale from what remains, and returns the
// timeline comment ("" when nothing changed). next is the caller's copy.
func (v *view) freshen(next *mxv1.Incident) string {
	var agents, domains []string
	members := slices.Clone(next.GetMembers())
	stale := false
	for i, m := range members {
		if !m.GetStale() {
			continue
		}
		r := v.result(m.GetAgentId(), m.GetCheck(), m.GetTarget())
		a := v.byID[m.GetAgentId()]
		if r == nil || r.GetStaleSince() != nil || a != nil && a.silent {
			stale = true
			continue
		}
		mm := proto.CloneOf(m)
		mm.Stale = false
		members[i] = mm
		if m.GetAgentId() == tlsrpt.AgentID {
			if d, ok := tlsrpt.TargetDomain(m.GetTarget()); ok && !slices.Contains(domains, d) {
				domains = append(domains, d)
			}
		} else if !slices.Contains(agents, m.GetAgentId()) {
			agents = append(agents, m.GetAgentId())
		}
	}
	if len(agents)+len(domains) == 0 {
		return ""
	}
	next.Members, next.Stale = members, stale
	var parts []string
	if len(domains) > 0 {
		slices.Sort(domains)
		parts = append(parts, "TLS-RPT reports for "+strings.Join(clip(domains, 6), ", ")+" arrive again")
	}
	if len(agents) > 0 {
		slices.Sort(agents)
		parts = append(parts, "agents "+strings.Join(clip(agents, 6), ", ")+" report again")
	}
	return strings.Join(parts, "; ") + ": that evidence is current and clean"
}
