package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/inventory"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/finding"
)

var funcs = template.FuncMap{
	"sevClass": func(s mxv1.Severity) string {
		if s == mxv1.Severity_SEVERITY_UNSPECIFIED {
			return "sev-none"
		}
		return "sev-" + strings.ToLower(finding.SeverityName(s))
	},
	"sevName": func(s mxv1.Severity) string {
		if s == mxv1.Severity_SEVERITY_UNSPECIFIED {
			return "OK"
		}
		return finding.SeverityName(s)
	},
	"stateName": incident.StateName,
	"scopeName": incident.ScopeLabel,
	"dirName": func(d mxv1.FlowDirection) string {
		if d == mxv1.FlowDirection_FLOW_DIRECTION_UNSPECIFIED {
			return "not determined"
		}
		return incident.DirectionLabel(d)
	},
	"iso": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return ""
		}
		return t.AsTime().UTC().Format(time.RFC3339)
	},
	"when": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"add":   func(a, b int) int { return a + b },
}

// ago renders a duration for humans: "45s", "12m", "3h", "4d".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func (h *Handler) since(t *timestamppb.Timestamp) string {
	if t == nil {
		return "—"
	}
	return ago(h.cfg.Now().Sub(t.AsTime()))
}

// allIncidents lists every incident, PENDING included, worst and newest first.
func (h *Handler) allIncidents() []*mxv1.Incident {
	out := h.cfg.State.Incidents(incident.Filter{})
	if pf, err := incident.ParseFilter(`state = "PENDING"`); err == nil {
		out = append(out, h.cfg.State.Incidents(pf)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return incident.Less(out[i], out[j]) })
	return out
}

// unresolved: OPEN or ACKNOWLEDGED (PENDING is still damping, RESOLVED is done).
func unresolved(inc *mxv1.Incident) bool {
	s := inc.GetState()
	return s == mxv1.IncidentState_INCIDENT_STATE_OPEN || s == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
}

// ---- overview

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
	worst := map[string]mxv1.Severity{}
	open := map[string]int{}
	for _, inc := range all {
		if !unresolved(inc) {
			continue
		}
		keys := inc.GetHosts()
		if inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
			keys = append(append([]string(nil), keys...), inc.GetSubject())
		}
		for _, k := range keys {
			k = strings.ToLower(k)
			open[k]++
			if inc.GetSeverity() > worst[k] {
				worst[k] = inc.GetSeverity()
			}
		}
	}
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
		k := strings.ToLower(host)
		row.Servers = append(row.Servers, serverCell{Host: host, Site: site, Agent: a.GetAgentId(), Severity: worst[k], Open: open[k],
			Stale: a.GetLastSeen() != nil && now.Sub(a.GetLastSeen().AsTime()) > h.cfg.StaleAfter, Link: "/?host=" + url.QueryEscape(host)})
	}
	for _, s := range siteOrder {
		v.Sites = append(v.Sites, *bySite[s])
	}
	seenRemote := map[string]bool{}
	for _, inc := range all {
		if unresolved(inc) && inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET && !seenRemote[strings.ToLower(inc.GetSubject())] {
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

// ---- incident

type memberRow struct {
	M        *mxv1.IncidentMember
	Evidence []kv
}

type kv struct{ K, V string }

type incidentView struct {
	Inc        *mxv1.Incident
	Age        string
	PowerShell string
	Members    []memberRow
	Diagram    diagram
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request) {
	inc := h.cfg.State.Incident(r.PathValue("id"))
	if inc == nil {
		h.renderError(w, r, http.StatusNotFound, "No incident "+r.PathValue("id")+" on this node (it may have been resolved and dropped, or this node lags the leader).")
		return
	}
	v := incidentView{Inc: inc, Age: h.since(inc.GetFirstSeen()), PowerShell: powershell(inc.GetRemediation())}
	for _, m := range inc.GetMembers() {
		row := memberRow{M: m}
		ev := m.GetFinding().GetEvidence()
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row.Evidence = append(row.Evidence, kv{k, ev[k]})
		}
		v.Members = append(v.Members, row)
	}
	v.Diagram = buildDiagram(inc, h.siteOfHost())
	h.render(w, r, http.StatusOK, "incident", inc.GetId(), "overview", v)
}

func (h *Handler) siteOfHost() map[string]string {
	m := map[string]string{}
	for _, a := range h.cfg.State.Agents("") {
		m[strings.ToLower(a.GetHostname())] = a.GetSite()
	}
	return m
}

var cmdletRe = regexp.MustCompile(`\b(?:Get|Set|New|Remove|Enable|Disable|Restart|Retry|Import|Export|Test|Start|Stop|Add|Resume|Suspend|Update|Clear|Invoke)-[A-Z][A-Za-z]+\b`)

var proseRe = regexp.MustCompile(`, [a-z]`)

// powershell extracts the commands of a remediation ("On HOST remove it:
// Get-ChildItem ... | Remove-Item ; then Restart-Service X and Retry-Queue.")
// as one command per line; "" when it names no cmdlet.
func powershell(rem string) string {
	var lines []string
	for _, para := range strings.Split(rem, "\n") {
		loc := cmdletRe.FindStringIndex(para)
		if loc == nil {
			continue
		}
		cmds := para[loc[0]:]
		for _, sep := range []string{" ; then ", "; then ", " ; ", ", then "} {
			cmds = strings.ReplaceAll(cmds, sep, "\n")
		}
		for _, c := range strings.Split(cmds, "\n") {
			// "Restart-Service X and Retry-Queue": two commands.
			for {
				i := strings.Index(c, " and ")
				if i < 0 || !cmdletRe.MatchString(strings.Fields(c[i+5:] + " x")[0]) {
					break
				}
				lines = append(lines, strings.TrimSpace(c[:i]))
				c = c[i+5:]
			}
			// Prose after a command: ", update TlsCertificateName on ...".
			if m := proseRe.FindStringIndex(c); m != nil {
				c = c[:m[0]]
			}
			c = strings.TrimRight(strings.TrimSpace(c), ".")
			if c != "" && cmdletRe.MatchString(c) {
				lines = append(lines, c)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// ---- certificates

type install struct {
	Host, Site, Agent, Origin, Key, Where string
}

type certRow struct {
	Thumbprint, Subject, Issuer, NotAfter, DNSNames string
	NotAfterT                                       time.Time
	HasNotAfter                                     bool
	Left                                            string
	Severity                                        mxv1.Severity
	Codes                                           []string
	Installs                                        []install
	Keyless                                         bool
}

type identityGroup struct {
	Issuer, Subject string
	Certs           []*certRow
	Duplicate       bool
	Severity        mxv1.Severity
}

type certsView struct {
	Groups []*identityGroup
	Chart  expiryChart
	Count  int
}

// inventory adapts the fleet certificate inventory (internal/controller/inventory)
// to the page: worst identities first, installations as "where" lines.
func (h *Handler) inventory() ([]*identityGroup, []*certRow) {
	now := h.cfg.Now()
	stores, _ := h.cfg.State.Results(store.ResultFilter{Check: "certstore"}, store.ResultKey{}, math.MaxInt)
	inv := inventory.BuildCertificates(h.cfg.State.Findings(store.FindingFilter{}), inventory.Listings(stores)...)
	rows := map[*inventory.Certificate]*certRow{}
	row := func(c *inventory.Certificate) *certRow {
		if r := rows[c]; r != nil {
			return r
		}
		r := &certRow{Thumbprint: c.Thumbprint, Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfterText, DNSNames: strings.Join(c.DNSNames, ","),
			NotAfterT: c.NotAfter, HasNotAfter: c.HasNotAfter(), Severity: c.Severity, Codes: c.Codes, Keyless: c.MissingKey}
		if r.HasNotAfter {
			if d := c.NotAfter.Sub(now); d < 0 {
				r.Left = "expired " + ago(-d) + " ago"
			} else {
				r.Left = "in " + ago(d)
			}
		}
		for _, in := range c.Installations {
			x := install{Host: in.Host, Site: in.Site, Agent: in.AgentID, Origin: in.Origin}
			if in.Origin == inventory.OriginPresented {
				x.Host, x.Site, x.Where, x.Key = strings.TrimSuffix(in.Endpoint, ":25"), "", "presented at "+in.Endpoint+" (seen by "+in.AgentID+")", "n/a"
			} else {
				x.Where = "installed in " + in.Store
				switch in.Key {
				case inventory.KeyPresent:
					x.Key = "yes"
				case inventory.KeyMissing:
					x.Key = "NO"
				default:
					x.Key = "unknown"
				}
			}
			r.Installs = append(r.Installs, x)
		}
		sort.SliceStable(r.Installs, func(i, j int) bool {
			return r.Installs[i].Host+r.Installs[i].Where < r.Installs[j].Host+r.Installs[j].Where
		})
		rows[c] = r
		return r
	}
	var groups []*identityGroup
	for _, g := range inv.Identities {
		ig := &identityGroup{Issuer: g.Issuer, Subject: g.Subject, Duplicate: g.Duplicate, Severity: g.Severity}
		for _, c := range g.Certificates {
			ig.Certs = append(ig.Certs, row(c))
		}
		groups = append(groups, ig)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Severity != groups[j].Severity {
			return groups[i].Severity > groups[j].Severity
		}
		return groups[i].Subject+groups[i].Issuer < groups[j].Subject+groups[j].Issuer
	})
	certs := make([]*certRow, 0, len(inv.All))
	for _, c := range inv.All {
		certs = append(certs, row(c))
	}
	return groups, certs
}

func (h *Handler) certificates(w http.ResponseWriter, r *http.Request) {
	groups, certs := h.inventory()
	v := certsView{Groups: groups, Count: len(certs), Chart: buildExpiryChart(certs, h.cfg.Now())}
	h.render(w, r, http.StatusOK, "certificates", "Certificates", "certificates", v)
}

// ---- agents

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
	worst := map[string]mxv1.Severity{}
	open := map[string]int{}
	for _, inc := range h.allIncidents() {
		if !unresolved(inc) {
			continue
		}
		for _, a := range inc.GetAgents() {
			open[a]++
			if inc.GetSeverity() > worst[a] {
				worst[a] = inc.GetSeverity()
			}
		}
	}
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
		row := agentRow{A: a, Roles: strings.Join(roles, ", "), LastSeen: h.since(a.GetLastSeen()), Severity: worst[a.GetAgentId()], Open: open[a.GetAgentId()],
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

// ---- one agent

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
	open, worst := 0, mxv1.Severity_SEVERITY_UNSPECIFIED
	for _, inc := range h.allIncidents() {
		if unresolved(inc) && slices.Contains(inc.GetAgents(), id) {
			open++
			worst = max(worst, inc.GetSeverity())
		}
	}
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
