package web

// The overview page (/): states, servers by site, sites, incidents.

import (
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

type stateCount struct {
	State  string
	N      int
	Active bool
	Link   string
}

type serverCell struct {
	Host, Site, Agent string
	Severity          mxv1.Severity
	Open              int
	Stale             bool
	Link              string
}

type siteRow struct {
	Site    string
	Servers []serverCell
}

type incRow struct {
	ID, State, Scope, Subject, Summary, Age string
	Severity                                mxv1.Severity
	Sites                                   []string
	Opened                                  *timestamppb.Timestamp
}

type overviewView struct {
	Counts    []stateCount
	Sites     []siteRow
	Remote    []serverCell
	Incidents []incRow
	Filter    string
	Total     int
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stateQ, hostQ := strings.ToUpper(q.Get("state")), q.Get("host")
	all := h.allIncidents()
	v := overviewView{Total: len(all)}
	counts := map[string]int{}
	for _, inc := range all {
		counts[incident.StateName(inc.GetState())]++
	}
	for _, s := range []string{"OPEN", "ACKNOWLEDGED", "PENDING", "RESOLVED"} {
		v.Counts = append(v.Counts, stateCount{State: s, N: counts[s], Active: stateQ == s, Link: "/?state=" + s})
	}
	now := h.cfg.Now()
	// The matrix: every agent's host in its site, coloured by the worst
	// unresolved incident naming that host.
	worst, open := serverSeverities(all)
	bySite := map[string]*siteRow{}
	var siteOrder []string
	for _, a := range h.cfg.State.Agents("") {
		site := a.GetSite()
		if site == "" {
			site = "(no site)"
		}
		row := bySite[site]
		if row == nil {
			row = &siteRow{Site: site}
			bySite[site] = row
			siteOrder = append(siteOrder, site)
		}
		host := a.GetHostname()
		if host == "" {
			host = a.GetAgentId()
		}
		k := agentHost(a)
		row.Servers = append(row.Servers, serverCell{Host: host, Site: site, Agent: a.GetAgentId(), Severity: worst[k], Open: open[k],
			Stale: a.GetLastSeen() != nil && now.Sub(a.GetLastSeen().AsTime()) > h.cfg.StaleAfter, Link: "/?host=" + url.QueryEscape(host)})
	}
	for _, s := range siteOrder {
		v.Sites = append(v.Sites, *bySite[s])
	}
	seenRemote := map[string]bool{}
	for _, inc := range all {
		if incident.Unresolved(inc) && inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET && !seenRemote[strings.ToLower(inc.GetSubject())] {
			k := strings.ToLower(inc.GetSubject())
			seenRemote[k] = true
			v.Remote = append(v.Remote, serverCell{Host: inc.GetSubject(), Severity: worst[k], Open: open[k], Link: "/incidents/" + url.PathEscape(inc.GetId())})
		}
	}
	for _, inc := range all {
		if stateQ != "" && incident.StateName(inc.GetState()) != stateQ {
			continue
		}
		if hostQ != "" && !containsFold(inc.GetHosts(), hostQ) && !strings.EqualFold(inc.GetSubject(), hostQ) {
			continue
		}
		opened := inc.GetOpenedAt()
		if opened == nil {
			opened = inc.GetFirstSeen()
		}
		v.Incidents = append(v.Incidents, incRow{ID: inc.GetId(), State: incident.StateName(inc.GetState()), Scope: incident.ScopeLabel(inc.GetScope()),
			Subject: inc.GetSubject(), Summary: inc.GetSummary(), Age: h.since(opened), Severity: inc.GetSeverity(), Sites: inc.GetSites(), Opened: opened})
	}
	switch {
	case stateQ != "" && hostQ != "":
		v.Filter = "state " + stateQ + ", host " + hostQ
	case stateQ != "":
		v.Filter = "state " + stateQ
	case hostQ != "":
		v.Filter = "host " + hostQ
	}
	h.render(w, r, http.StatusOK, "overview", "Overview", "overview", v)
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
