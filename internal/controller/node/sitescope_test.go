package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// siteOnly reports whether every site in sites is site (and there is one).
func siteOnly(sites []string, site string) bool {
	for _, s := range sites {
		if s != site {
			return false
		}
	}
	return len(sites) > 0
}

// A token created for one site reads and changes only that site's data,
// through REST and gRPC, on a follower (forwarded) and on the leader:
// agents, findings, results, certificates, sites, incidents (an incident
// spanning sites belongs to the fleet), events, SSE and deliveries; what
// covers every site (TLS-RPT, metrics, the dashboard, admin calls) is
// refused with 403.
func TestSiteScopedTokensSeeAndChangeOnlyTheirSite(t *testing.T) {
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hooks.Close()
	sc := newSecureCluster(t, 3, fastCorrelation, func(c *Config) {
		c.Notify = notify.Config{AllowPrivate: true, Interval: 20 * time.Millisecond, Webhooks: []notify.WebhookConfig{{Name: "ops", URL: hooks.URL, Secrets: []string{"scope-secret"}}}}
	})
	clusterCA, agentCA := sc.clusterCA, sc.agentCA
	l, f := sc.leaderAndFollower(t)
	ctx := t.Context()
	authc := mxv1.NewAuthServiceClient(dialConn(t, f.n.GRPCAddr(), clusterCA.clientTLS()))
	token := func(name, site string, scopes ...string) string {
		r, err := createToken(t, authc, &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: name, Site: site, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetSecret()
	}
	amsRead, amsWrite, fleet := token("ams-read", "amsterdam", "read"), token("ams-write", "amsterdam", "write"), token("fleet", "", "read")
	if _, err := createToken(t, authc, &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "x", Site: "amsterdam", Scopes: []string{"admin"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a site-scoped admin token was created: %v", err)
	}

	// ex01 (amsterdam) and ex02 (london) share the renewed certificate
	// (an incident spanning both sites); ex01 alone lacks a key (amsterdam
	// only); ex02 alone sees the partner's expired certificate.
	now := time.Now().UTC().Truncate(time.Second)
	const tpOld, tpRenewed, tpPartner = "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344", "B79D5E0F11223344556677889900AABBCCDDEEFF", "C0FFEE0011223344556677889900AABBCCDDEEFF"
	myStore := `Cert:\LocalMachine\My`
	renewed := func() map[string]string {
		return certEvidence(tpRenewed, mailDN, caDN, now.Add(10*24*time.Hour), map[string]string{"origin": "store", "store": myStore, "has_private_key": "true", "key_status": "usable", "expires_in_days": "10"})
	}
	agent := func(id, site string) mxv1.AgentService_ConnectClient {
		return helloAt(t, mxv1.NewAgentServiceClient(dialConn(t, l.n.GRPCAddr(), signedAs(t, agentCA, clusterCA, id, site))), id, site)
	}
	sendResults(t, agent("ex01", "amsterdam"), 1, &mxv1.CheckResult{Check: "certstore", Target: myStore, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{
		certFinding("CERT_NO_PRIVATE_KEY", mxv1.Severity_SEVERITY_CRITICAL, certEvidence(tpOld, mailDN, caDN, now.Add(200*24*time.Hour), map[string]string{"origin": "store", "store": myStore, "has_private_key": "false", "key_status": "absent"})),
		certFinding("CERT_EXPIRING", mxv1.Severity_SEVERITY_ERROR, renewed()),
	}})
	sendResults(t, agent("ex02", "london"), 1,
		&mxv1.CheckResult{Check: "certstore", Target: myStore, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{certFinding("CERT_EXPIRING", mxv1.Severity_SEVERITY_ERROR, renewed())}},
		&mxv1.CheckResult{Check: "smtp", Target: "smtp://smtp.fabrikam.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{
			certFinding("CERT_EXPIRED", mxv1.Severity_SEVERITY_CRITICAL, certEvidence(tpPartner, legacyDN, legacyCA, now.Add(-5*24*time.Hour), map[string]string{"origin": "presented", "endpoint": "smtp.fabrikam.com:25"}))}})

	// Wait for incidents of every kind, and their deliveries.
	var amsOnly, other []*mxv1.Incident
	waitUntil(t, 20*time.Second, "incidents in amsterdam only and beyond it, delivered", func() bool {
		amsOnly, other = nil, nil
		for _, inc := range incidentsOf(l.n) {
			if siteOnly(inc.GetSites(), "amsterdam") && inc.GetRootCause().GetSite() != "london" {
				amsOnly = append(amsOnly, inc)
			} else {
				other = append(other, inc)
			}
		}
		spanning := false
		for _, inc := range other {
			spanning = spanning || strings.Contains(strings.Join(inc.GetSites(), ","), "amsterdam")
		}
		return len(amsOnly) > 0 && spanning && len(l.n.Store().State().Deliveries("ops", 0)) >= len(amsOnly)+len(other)
	})
	visible := map[string]bool{}
	for _, inc := range amsOnly {
		visible[inc.GetId()] = true
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()}, Timeout: 30 * time.Second}
	call := func(node *Node, method, path, tok, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, "https://"+node.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	getJSON := func(node *Node, path, tok string, v any) {
		t.Helper()
		code, b := call(node, "GET", path, tok, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	type restIncident struct {
		ID    string   `json:"id"`
		Sites []string `json:"sites"`
	}
	for _, node := range []*Node{f.n, l.n} {
		for _, stale := range []string{"", "?stale=true"} {
			var agents struct {
				Agents []struct{ AgentID, Site string }
			}
			getJSON(node, "/v1/agents"+stale, amsRead, &agents)
			if len(agents.Agents) != 1 || agents.Agents[0].AgentID != "ex01" {
				t.Errorf("agents for the amsterdam token%s: %+v", stale, agents.Agents)
			}
			var findings struct {
				Findings []struct{ AgentID, Site string }
			}
			getJSON(node, "/v1/findings"+stale, amsRead, &findings)
			for _, fd := range findings.Findings {
				if fd.Site != "amsterdam" {
					t.Errorf("finding of %s (%s) shown to the amsterdam token", fd.AgentID, fd.Site)
				}
			}
			if len(findings.Findings) != 2 {
				t.Errorf("amsterdam token sees %d findings, want ex01's 2", len(findings.Findings))
			}
			var results struct {
				Results []struct{ AgentID string }
			}
			getJSON(node, "/v1/results"+stale, amsRead, &results)
			if len(results.Results) != 1 || results.Results[0].AgentID != "ex01" {
				t.Errorf("results for the amsterdam token: %+v", results.Results)
			}
			var sites struct {
				Sites []struct{ Site string }
			}
			getJSON(node, "/v1/sites"+stale, amsRead, &sites)
			if len(sites.Sites) != 1 || sites.Sites[0].Site != "amsterdam" {
				t.Errorf("sites for the amsterdam token: %+v", sites.Sites)
			}
			var certs struct {
				Identities []restIdentity `json:"identities"`
			}
			getJSON(node, "/v1/certificates"+stale, amsRead, &certs)
			for _, g := range certs.Identities {
				for _, c := range g.Certificates {
					if c.Thumbprint == tpPartner {
						t.Error("london's partner certificate shown to the amsterdam token")
					}
					for _, in := range c.Installations {
						if in.Site != "amsterdam" {
							t.Errorf("installation %+v shown to the amsterdam token", in)
						}
					}
				}
			}
			var incs struct {
				Incidents []restIncident `json:"incidents"`
			}
			getJSON(node, "/v1/incidents"+stale, amsRead, &incs)
			if len(incs.Incidents) != len(amsOnly) {
				t.Errorf("amsterdam token lists %d incidents, want the %d in amsterdam only", len(incs.Incidents), len(amsOnly))
			}
			for _, inc := range incs.Incidents {
				if !visible[inc.ID] {
					t.Errorf("incident %s (sites %v) listed for the amsterdam token", inc.ID, inc.Sites)
				}
			}
			var events struct {
				Events []restEvent `json:"events"`
			}
			getJSON(node, "/v1/events?after=0"+strings.ReplaceAll(stale, "?", "&"), amsRead, &events)
			for _, ev := range events.Events {
				if !visible[ev.IncidentID] {
					t.Errorf("event of incident %s shown to the amsterdam token", ev.IncidentID)
				}
			}
			if len(events.Events) == 0 {
				t.Error("no events for the amsterdam token")
			}
			var deliveries struct {
				Deliveries []struct {
					Event struct {
						IncidentID string `json:"incidentId"`
					} `json:"event"`
				} `json:"deliveries"`
			}
			getJSON(node, "/v1/deliveries"+stale, amsRead, &deliveries)
			for _, d := range deliveries.Deliveries {
				if !visible[d.Event.IncidentID] {
					t.Errorf("delivery of incident %s shown to the amsterdam token", d.Event.IncidentID)
				}
			}
			if len(deliveries.Deliveries) == 0 {
				t.Error("no deliveries for the amsterdam token")
			}
			// Asking for another site is refused, not answered empty.
			for _, path := range []string{"/v1/agents?site=london", "/v1/findings?site=london", "/v1/results?site=london", "/v1/certificates?site=london"} {
				if code, _ := call(node, "GET", path+strings.ReplaceAll(stale, "?", "&"), amsRead, ""); code != http.StatusForbidden {
					t.Errorf("GET %s with the amsterdam token: %d, want 403", path, code)
				}
			}
			// Other incidents look as if they did not exist.
			for _, inc := range other {
				if code, _ := call(node, "GET", "/v1/incidents/"+url.PathEscape(inc.GetId())+stale, amsRead, ""); code != http.StatusNotFound {
					t.Errorf("GET incident %s (sites %v) with the amsterdam token: %d, want 404", inc.GetId(), inc.GetSites(), code)
				}
				if code, _ := call(node, "GET", "/v1/incidents/"+url.PathEscape(inc.GetId())+stale, fleet, ""); code != http.StatusOK {
					t.Errorf("GET incident %s with the fleet token: %d", inc.GetId(), code)
				}
			}
		}
	}
	// The fleet token sees everything.
	var all struct {
		Incidents []restIncident `json:"incidents"`
	}
	getJSON(f.n, "/v1/incidents", fleet, &all)
	if len(all.Incidents) != len(amsOnly)+len(other) {
		t.Fatalf("fleet token lists %d incidents, want %d", len(all.Incidents), len(amsOnly)+len(other))
	}

	// Writes: the amsterdam token cannot act on a spanning incident, it can
	// on its own.
	for _, inc := range other {
		if code, b := call(f.n, "POST", "/v1/incidents/"+url.PathEscape(inc.GetId())+":acknowledge", amsWrite, `{"comment":"x"}`); code != http.StatusNotFound {
			t.Errorf("acknowledge %s (sites %v) with the amsterdam token: %d %s, want 404", inc.GetId(), inc.GetSites(), code, b)
		}
		if code, _ := call(f.n, "PATCH", "/v1/incidents/"+url.PathEscape(inc.GetId()), amsWrite, `{"externalRefs":{"jira":"OPS-1"}}`); code != http.StatusNotFound {
			t.Errorf("PATCH %s with the amsterdam token: %d, want 404", inc.GetId(), code)
		}
		if got := l.n.Store().State().Incident(inc.GetId()); got.GetState() != inc.GetState() || len(got.GetExternalRefs()) != 0 {
			t.Errorf("incident %s changed by a refused write: %v %v", inc.GetId(), got.GetState(), got.GetExternalRefs())
		}
	}
	if code, b := call(f.n, "POST", "/v1/incidents/"+url.PathEscape(amsOnly[0].GetId())+":acknowledge", amsWrite, `{"comment":"ours"}`); code != http.StatusOK {
		t.Errorf("acknowledge amsterdam's incident with its token: %d %s", code, b)
	}
	for _, d := range l.n.Store().State().Deliveries("ops", 0) {
		if !visible[d.GetEvent().GetIncidentId()] {
			if code, _ := call(f.n, "POST", "/v1/deliveries/"+d.GetId()+":redeliver", amsWrite, "{}"); code != http.StatusNotFound {
				t.Errorf("redeliver %s with the amsterdam token: %d, want 404", d.GetId(), code)
			}
			break
		}
	}
	// What covers every site is refused with 403.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/tlsrpt/reports"}, {"POST", "/v1/tlsrpt/reports:import"}, {"POST", "/v1/notify/targets/ops:enable"}, {"GET", "/v1/notify/targets"}, {"GET", "/metrics"},
	} {
		if code, _ := call(f.n, r.method, r.path, amsWrite, "{}"); code != http.StatusForbidden {
			t.Errorf("%s %s with the amsterdam token: %d, want 403", r.method, r.path, code)
		}
	}
	login := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+f.n.HTTPAddr()+"/ui/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://"+f.n.HTTPAddr())
		noRedirect := &http.Client{Transport: client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login(amsRead); code != http.StatusUnauthorized {
		t.Errorf("dashboard sign-in with the amsterdam token: %d, want 401 (it shows every site)", code)
	}
	if code := login(fleet); code != http.StatusSeeOther {
		t.Errorf("dashboard sign-in with the fleet token: %d, want 303", code)
	}

	// SSE: the stream carries only amsterdam's incidents.
	sseCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sreq, _ := http.NewRequestWithContext(sseCtx, "GET", "https://"+f.n.HTTPAddr()+"/v1/events:stream?after=0", nil)
	sreq.Header.Set("Authorization", "Bearer "+amsRead)
	sresp, err := (&http.Client{Transport: client.Transport}).Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	var amsEvents struct {
		Events []restEvent `json:"events"`
	}
	getJSON(f.n, "/v1/events?after=0", amsRead, &amsEvents)
	ch := apitest.ReadSSE(sresp.Body)
	for range len(amsEvents.Events) {
		e := apitest.NextSSE(t, ch)
		var ev restEvent
		_ = json.Unmarshal([]byte(e.Data), &ev)
		if !visible[ev.IncidentID] {
			t.Errorf("SSE event %s of incident %q sent to the amsterdam token", e.ID, ev.IncidentID)
		}
	}

	// gRPC, on the follower: the same scope.
	ctl := mxv1.NewControllerServiceClient(dialConn(t, f.n.GRPCAddr(), clusterCA.clientTLS()))
	ams := bearer(ctx, amsRead)
	if r, err := ctl.ListAgents(ams, &mxv1.ListAgentsRequest{}); err != nil || len(r.GetAgents()) != 1 || r.GetAgents()[0].GetAgentId() != "ex01" {
		t.Errorf("gRPC ListAgents for the amsterdam token: %v %v", r.GetAgents(), err)
	}
	if _, err := ctl.ListFindings(ams, &mxv1.ListFindingsRequest{Site: "london"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC ListFindings site=london for the amsterdam token: %v", err)
	}
	if r, err := ctl.ListIncidents(ams, &mxv1.ListIncidentsRequest{}); err != nil || len(r.GetIncidents()) != len(amsOnly) {
		t.Errorf("gRPC ListIncidents for the amsterdam token: %d %v", len(r.GetIncidents()), err)
	}
	if _, err := ctl.GetIncident(ams, &mxv1.GetIncidentRequest{Id: other[0].GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("gRPC GetIncident of %v for the amsterdam token: %v", other[0].GetSites(), err)
	}
	if _, err := authc.ListTokens(ams, &mxv1.ListTokensRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC ListTokens with the amsterdam token: %v", err)
	}
}
