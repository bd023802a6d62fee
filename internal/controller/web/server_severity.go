package web

import (
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// serverSeverities is how every page colours a server: per host (lower
// case), the worst severity and the number of the unresolved incidents
// naming it (remote-target incidents also name their endpoint). The
// overview's matrix, the agents page and an agent's page all use it, so a
// server is never ERROR on one page and CRITICAL on another.
func serverSeverities(incs []*mxv1.Incident) (worst map[string]mxv1.Severity, open map[string]int) {
	worst, open = map[string]mxv1.Severity{}, map[string]int{}
	for _, inc := range incs {
		if !incident.Unresolved(inc) {
			continue
		}
		keys := inc.GetHosts()
		if inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
			keys = append(append([]string(nil), keys...), inc.GetSubject())
		}
		seen := map[string]bool{}
		for _, k := range keys {
			k = strings.ToLower(k)
			if seen[k] {
				continue
			}
			seen[k] = true
			open[k]++
			worst[k] = max(worst[k], inc.GetSeverity())
		}
	}
	return worst, open
}

// agentHost is the key serverSeverities uses for an agent's server.
func agentHost(a *mxv1.Agent) string {
	if h := a.GetHostname(); h != "" {
		return strings.ToLower(h)
	}
	return strings.ToLower(a.GetAgentId())
}
