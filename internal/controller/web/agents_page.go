package web

// The agents page (/agents): every agent by site, with failing checks.

import (
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

type agentRow struct {
	A        *mxv1.Agent
	Roles    string
	LastSeen string
	Stale    bool
	Severity mxv1.Severity
	Open     int
	// Failing: the agent's checks failing now, with the oldest failure's start.
	Failing []string
	Since   *timestamppb.Timestamp
}

// failingChecks maps agents to their failing checks (sorted) and when the
// oldest of those failures began.
func (h *Handler) failingChecks() (map[string][]string, map[string]*timestamppb.Timestamp) {
	checks, since := map[string][]string{}, map[string]*timestamppb.Timestamp{}
	var after store.ResultKey
	for {
		recs, next := h.cfg.State.Results(store.ResultFilter{Failing: true}, after, 5000)
		for _, r := range recs {
			if r.GetRetired() {
				continue
			}
			id := r.GetAgentId()
			if c := r.GetResult().GetCheck(); !slices.Contains(checks[id], c) {
				checks[id] = append(checks[id], c)
			}
			if s := r.GetSince(); s != nil && (since[id] == nil || s.AsTime().Before(since[id].AsTime())) {
				since[id] = s
			}
		}
		if next == nil {
			return checks, since
		}
		after = *next
	}
}

type agentSite struct {
	Site   string
	Agents []agentRow
	Stale  int
}

func (h *Handler) agents(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	worst, open := serverSeverities(h.allIncidents())
	failing, failingSince := h.failingChecks()
	var sites []*agentSite
	idx := map[string]*agentSite{}
	for _, a := range h.cfg.State.Agents("") {
		s := idx[a.GetSite()]
		if s == nil {
			s = &agentSite{Site: a.GetSite()}
			idx[a.GetSite()] = s
			sites = append(sites, s)
		}
		var roles []string
		for _, ro := range a.GetRoles() {
			roles = append(roles, strings.ToLower(strings.TrimPrefix(ro.String(), "ROLE_")))
		}
		row := agentRow{A: a, Roles: strings.Join(roles, ", "), LastSeen: h.since(a.GetLastSeen()), Severity: worst[agentHost(a)], Open: open[agentHost(a)],
			Failing: failing[a.GetAgentId()], Since: failingSince[a.GetAgentId()]}
		row.Stale = a.GetLastSeen() == nil || now.Sub(a.GetLastSeen().AsTime()) > h.cfg.StaleAfter
		if row.Stale {
			s.Stale++
		}
		s.Agents = append(s.Agents, row)
	}
	h.render(w, r, http.StatusOK, "agents", "Agents", "agents", struct {
		Sites      []*agentSite
		StaleAfter string
	}{sites, h.cfg.StaleAfter.String()})
}
