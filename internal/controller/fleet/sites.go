package fleet

import (
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Site summarises one site: its agents and its unresolved incidents.
type Site struct {
	// Name as the agents report it ("" for agents without a site).
	Name string
	// Agents of the site, and those not seen for longer than staleAfter.
	Agents, StaleAgents int
	// OpenIncidents counts unresolved (OPEN or ACKNOWLEDGED) incidents
	// naming the site; WorstSeverity is the worst of them (UNSPECIFIED: none).
	OpenIncidents int
	WorstSeverity mxv1.Severity
}

// Stale reports whether an agent last seen at lastSeen is stale at now (never
// seen counts as stale).
func Stale(a *mxv1.Agent, now time.Time, staleAfter time.Duration) bool {
	return a.GetLastSeen() == nil || now.Sub(a.GetLastSeen().AsTime()) > staleAfter
}

// Sites summarises every site that has an agent or is named by an
// unresolved incident, sorted by name (case-insensitive keys; the first
// spelling seen is kept). An incident counts for the sites it names and the
// sites of the agents it names.
func Sites(agents []*mxv1.Agent, incidents []*mxv1.Incident, now time.Time, staleAfter time.Duration) []Site {
	idx := map[string]*Site{}
	get := func(name string) *Site {
		k := strings.ToLower(name)
		s := idx[k]
		if s == nil {
			s = &Site{Name: name}
			idx[k] = s
		}
		return s
	}
	siteOf := map[string]string{}
	for _, a := range agents {
		s := get(a.GetSite())
		s.Agents++
		if Stale(a, now, staleAfter) {
			s.StaleAgents++
		}
		siteOf[a.GetAgentId()] = a.GetSite()
	}
	for _, inc := range incidents {
		if !incident.Unresolved(inc) {
			continue
		}
		named := map[string]string{}
		for _, s := range inc.GetSites() {
			named[strings.ToLower(s)] = s
		}
		for _, a := range inc.GetAgents() {
			if s, ok := siteOf[a]; ok {
				named[strings.ToLower(s)] = s
			}
		}
		for _, name := range named {
			s := get(name)
			s.OpenIncidents++
			if inc.GetSeverity() > s.WorstSeverity {
				s.WorstSeverity = inc.GetSeverity()
			}
		}
	}
	out := make([]Site, 0, len(idx))
	for _, s := range idx {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}
