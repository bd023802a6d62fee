package demo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// settling lists what correlation would still change in the open incidents
// if a round ran on st now (opened, resolved, retitled), and the open
// incidents whose findings are gone (they resolve after clean
// observations). Empty: correlation has converged on what the agents
// reported. It runs the engine without committing anything.
func settling(st *store.State, cfg correlate.Config, now time.Time) []string {
	v := st.CorrelationView()
	out := correlate.Correlate(correlate.Input{Agents: v.Agents, Results: v.Results, Incidents: v.Incidents, Now: now}, cfg)
	stored := map[string]*mxv1.Incident{}
	for _, inc := range v.Incidents {
		stored[inc.GetId()] = inc
	}
	var msgs []string
	for _, u := range out.Upserts {
		prev := stored[u.GetId()]
		switch was, is := incident.Unresolved(prev), incident.Unresolved(u); {
		case !was && is:
			msgs = append(msgs, "opening "+label(u))
		case was && !is:
			msgs = append(msgs, "resolving "+label(prev))
		case was && (prev.GetSeverity() != u.GetSeverity() || prev.GetSummary() != u.GetSummary() || prev.GetRemediation() != u.GetRemediation()):
			msgs = append(msgs, "updating "+label(u))
		}
	}
	for _, id := range out.Unobserved {
		msgs = append(msgs, fmt.Sprintf("no longer observed, resolves after %d clean observations: %s", cfg.WithDefaults().ResolveAfterClean, label(stored[id])))
	}
	slices.Sort(msgs)
	return msgs
}

// unresolved lists st's open and acknowledged incidents, in the store's
// order.
func unresolved(st *store.State) []*mxv1.Incident {
	var out []*mxv1.Incident
	for _, inc := range st.Incidents(incident.Filter{}) {
		if incident.Unresolved(inc) {
			out = append(out, inc)
		}
	}
	return out
}

func label(inc *mxv1.Incident) string {
	return fmt.Sprintf("%s %s (%s)", strings.TrimPrefix(inc.GetScope().String(), "INCIDENT_SCOPE_"), inc.GetId(), inc.GetSubject())
}
