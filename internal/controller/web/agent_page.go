package web

// One agent's page (/agents/{id}): its latest result per check.

import (
	"net/http"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

type resultRow struct {
	R             *mxv1.CheckResultRecord
	Status, Class string
	Codes         []string
	// Changes: "OK 2026-11-25 14:00:00 UTC", oldest first.
	Changes []string
}

func statusLabel(st mxv1.CheckStatus) (label, class string) {
	label = strings.TrimPrefix(st.String(), "CHECK_STATUS_")
	switch st {
	case mxv1.CheckStatus_CHECK_STATUS_OK:
		return label, "sev-none"
	case mxv1.CheckStatus_CHECK_STATUS_FAIL:
		return label, "sev-critical"
	case mxv1.CheckStatus_CHECK_STATUS_ERROR:
		return label, "sev-error"
	}
	return label, "sev-warning"
}

func (h *Handler) agent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a := h.cfg.State.Agent(id)
	if a == nil {
		h.renderError(w, r, http.StatusNotFound, "No agent "+id+" on this node.")
		return
	}
	worsts, opens := serverSeverities(h.allIncidents())
	open, worst := opens[agentHost(a)], worsts[agentHost(a)]
	var rows []resultRow
	var after store.ResultKey
	for {
		recs, next := h.cfg.State.Results(store.ResultFilter{AgentID: id}, after, 5000)
		for _, rec := range recs {
			row := resultRow{R: rec}
			row.Status, row.Class = statusLabel(rec.GetResult().GetStatus())
			if hist := rec.GetHistory(); len(hist) > 0 {
				row.Codes = hist[len(hist)-1].GetCodes()
			}
			for _, c := range rec.GetHistory() {
				label, _ := statusLabel(c.GetStatus())
				row.Changes = append(row.Changes, label+" "+c.GetAt().AsTime().UTC().Format("2006-01-02 15:04 UTC"))
			}
			rows = append(rows, row)
		}
		if next == nil {
			break
		}
		after = *next
	}
	h.render(w, r, http.StatusOK, "agent", "Agent "+id, "agents", struct {
		A        *mxv1.Agent
		LastSeen string
		Stale    bool
		Open     int
		Severity mxv1.Severity
		Results  []resultRow
	}{a, h.since(a.GetLastSeen()), a.GetLastSeen() == nil || h.cfg.Now().Sub(a.GetLastSeen().AsTime()) > h.cfg.StaleAfter, open, worst, rows})
}
