package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// On a secure twin, through REST and gRPC, directly and forwarded by a
// follower: no or an unknown token is 401, a token without the scope 403;
// a site-scoped token lists only its site's agents, results, incidents and
// events, an incident spanning sites looks as if it did not exist (404, on
// reads and writes), asking for another site is 403, and what covers every
// site (TLS-RPT, tokens) is 403.
func TestSiteScopedTokensAndScopes(t *testing.T) {
	l := newTwin(t, twinConfig{secure: true})
	f := l.follower(t, true)
	amsRead, amsWrite, fleet := l.token(t, "ams-read", "amsterdam", "read"), l.token(t, "ams-write", "amsterdam", "write"), l.token(t, "fleet", "", "read")
	fleetWrite := l.token(t, "fleet-write", "", "write")
	if _, err := mxv1.NewAuthServiceClient(l.conn).CreateToken(bearer(t.Context(), twinBootstrap), &mxv1.CreateTokenRequest{
		Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "x", Site: "amsterdam", Scopes: []string{"admin"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a site-scoped admin token was created: %v", err)
	}
	fail := &mxv1.CheckResult{Check: "certstore", Target: "My", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: "CERT_NO_PRIVATE_KEY", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "AB12"}}}
	l.report(t, "ex01", "amsterdam", 1, fail)
	l.report(t, "ex02", "london", 1, fail)
	ams := l.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	span := l.putIncident(t, siteIncident("inc-00000000000000bb-1", "00000000000000bb", "amsterdam", "london"))

	auth := func(tok string) map[string]string { return map[string]string{"Authorization": tok} }
	for _, tw := range []*twin{l, f} {
		for _, c := range []struct {
			method, path, tok, body string
			want                    int
		}{
			{"GET", "/v1/agents", "", "", 401},
			{"GET", "/v1/agents", "mxp_0123456789abcdef_nope", "", 401},
			{"GET", "/v1/agents", "not-a-token", "", 401},
			{"GET", "/v1/events", "", "", 401},
			{"GET", "/v1/events:stream", "", "", 401},
			{"GET", "/v1/events:stream?after=x", fleet, "", 400},
			{"GET", "/v1/deliveries?status=FAILED", fleet, "", 200},
			{"GET", "/v1/notify/targets", fleet, "", 200},
			{"POST", "/v1/notify/targets/ops:enable", fleetWrite, "{}", 404},
			{"PATCH", "/v1/incidents/inc-0000000000000000-1", "", `{"externalRefs":{"jira":"OPS-42"}}`, 401},
			{"PATCH", "/v1/incidents/inc-0000000000000000-1", fleetWrite, `{"externalRefs":{"jira":"OPS-42"}}`, 404},
			{"GET", "/v1/tokens", fleet, "", 403},
			{"POST", "/v1/incidents/" + ams.GetId() + ":acknowledge", amsRead, "{}", 403},
			{"PATCH", "/v1/incidents/" + ams.GetId(), fleet, `{"externalRefs":{"jira":"OPS-42"}}`, 403},
			{"POST", "/v1/deliveries/ops/msg_x:redeliver", amsRead, "{}", 403},
			{"POST", "/v1/deliveries/ops/msg_x:redeliver", amsWrite, "{}", 404},
			{"POST", "/v1/notify/targets/ops:enable", fleet, "{}", 403},
			{"GET", "/v1/agents?site=london", amsRead, "", 403},
			{"GET", "/v1/findings?site=london", amsRead, "", 403},
			{"GET", "/v1/results?site=london", amsRead, "", 403},
			{"GET", "/v1/tlsrpt/reports", amsRead, "", 403},
			{"POST", "/v1/tlsrpt/reports:import", amsWrite, "{}", 403},
			{"GET", "/v1/notify/targets", amsRead, "", 403},
			{"GET", "/v1/incidents/" + span.GetId(), amsRead, "", 404},
			{"GET", "/v1/incidents/" + span.GetId(), fleet, "", 200},
			{"GET", "/v1/incidents/" + ams.GetId(), amsRead, "", 200},
			{"POST", "/v1/incidents/" + span.GetId() + ":acknowledge", amsWrite, `{"comment":"x"}`, 404},
			{"PATCH", "/v1/incidents/" + span.GetId(), amsWrite, `{"externalRefs":{"jira":"OPS-1"}}`, 404},
			{"PATCH", "/v1/incidents/inc-0000000000000000-1", amsWrite, `{"externalRefs":{"jira":"OPS-1"}}`, 404},
		} {
			if a := tw.do(t, c.method, c.path, auth(c.tok), c.body); a.code != c.want {
				t.Errorf("%s %s (token %v) on %s: %d, want %d: %s", c.method, c.path, c.tok != "", map[bool]string{true: "leader", false: "follower"}[tw == l], a.code, c.want, a.body)
			} else if c.want == 401 && !strings.HasPrefix(c.path, "/v1/events:stream") && a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without a challenge", c.method, c.path)
			}
		}
		get := func(path, tok string, v any) {
			t.Helper()
			a := tw.do(t, "GET", path, auth(tok), "")
			if a.code != 200 || json.Unmarshal([]byte(a.body), v) != nil {
				t.Fatalf("GET %s: %d %s", path, a.code, a.body)
			}
		}
		var agents struct{ Agents []struct{ AgentID string } }
		if get("/v1/agents", amsRead, &agents); len(agents.Agents) != 1 || agents.Agents[0].AgentID != "ex01" {
			t.Errorf("agents for the amsterdam token: %+v", agents.Agents)
		}
		var results struct{ Results []struct{ AgentID string } }
		if get("/v1/results", amsRead, &results); len(results.Results) != 1 || results.Results[0].AgentID != "ex01" {
			t.Errorf("results for the amsterdam token: %+v", results.Results)
		}
		var incs struct{ Incidents []struct{ ID string } }
		if get("/v1/incidents", amsRead, &incs); len(incs.Incidents) != 1 || incs.Incidents[0].ID != ams.GetId() {
			t.Errorf("incidents for the amsterdam token: %+v", incs.Incidents)
		}
		if get("/v1/incidents", fleet, &incs); len(incs.Incidents) != 2 {
			t.Errorf("incidents for the fleet token: %+v", incs.Incidents)
		}
		// The stream opens for a read token (and carries the events the
		// token may see: the first is amsterdam's incident's).
		if e := apitest.NextSSE(t, openSSE(t, tw, map[string]string{"Authorization": "Bearer " + amsRead, "Last-Event-ID": "0"})); !strings.Contains(e.Data, ams.GetId()) {
			t.Errorf("SSE for the amsterdam token: %+v", e)
		}
		var evs struct{ Events []apitest.Event }
		if get("/v1/events?after=0", amsRead, &evs); len(evs.Events) != 1 || evs.Events[0].IncidentID != ams.GetId() {
			t.Errorf("events for the amsterdam token: %+v", evs.Events)
		}
	}
	// The timeline names the token, with the caller's actor on whose behalf.
	if a := f.do(t, "POST", "/v1/incidents/"+ams.GetId()+":acknowledge", auth(amsWrite), `{"actor":"alice","comment":"ours"}`); a.code != 200 {
		t.Fatalf("acknowledge amsterdam's incident with its token: %d %s", a.code, a.body)
	}
	tl := l.store.State().Incident(ams.GetId()).GetTimeline()
	if got := tl[len(tl)-1].GetActor(); got != "ams-write (for alice)" {
		t.Errorf("timeline actor %q", got)
	}
	if got := l.store.State().Incident(span.GetId()); got.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || len(got.GetExternalRefs()) != 0 {
		t.Errorf("the spanning incident changed: %v", got)
	}

	// gRPC, on the follower: the same scope.
	ctl := f.ctl()
	if r, err := ctl.ListAgents(bearer(t.Context(), amsRead), &mxv1.ListAgentsRequest{}); err != nil || len(r.GetAgents()) != 1 {
		t.Errorf("gRPC ListAgents for the amsterdam token: %v %v", r.GetAgents(), err)
	}
	if _, err := ctl.ListAgents(t.Context(), &mxv1.ListAgentsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC without a token: %v", err)
	}
	if _, err := ctl.ListFindings(bearer(t.Context(), amsRead), &mxv1.ListFindingsRequest{Site: "london"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC ListFindings site=london for the amsterdam token: %v", err)
	}
	if _, err := ctl.GetIncident(bearer(t.Context(), amsRead), &mxv1.GetIncidentRequest{Id: span.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("gRPC GetIncident of the spanning incident for the amsterdam token: %v", err)
	}
	if _, err := mxv1.NewAuthServiceClient(f.conn).ListTokens(bearer(t.Context(), amsRead), &mxv1.ListTokensRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC ListTokens with the amsterdam token: %v", err)
	}
	if r, err := mxv1.NewAuthServiceClient(f.conn).ListTokens(bearer(t.Context(), twinBootstrap), &mxv1.ListTokensRequest{}); err != nil || len(r.GetTokens()) != 4 || len(r.GetTokens()[0].GetSecretHash()) != 0 {
		t.Errorf("ListTokens forwarded: %v %v", r, err)
	}
}

// Errors map to the statuses clients branch on: a follower with no leader
// known and a node that lost leadership mid-call answer 503 (Unavailable),
// a forwarded call that lands on a follower is not forwarded again, and a
// body over the bound is 413 before any handler reads it.
func TestErrorMapping(t *testing.T) {
	l := newTwin(t, twinConfig{limits: BodyLimits{MaxBytes: 1024}})
	inc := l.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	orphan := newTwin(t, twinConfig{store: l.store, node: following})
	lost := newTwin(t, twinConfig{store: l.store, node: func(s *store.Store) Node { return lostLeadership{s} }})
	for name, tw := range map[string]*twin{"follower without a leader": orphan, "node that lost leadership": lost} {
		if a := tw.do(t, "GET", "/v1/incidents/"+inc.GetId(), nil, ""); a.code != http.StatusServiceUnavailable {
			t.Errorf("%s: GET: %d %s", name, a.code, a.body)
		}
		if a := tw.do(t, "POST", "/v1/incidents/"+inc.GetId()+":acknowledge", nil, `{"actor":"alice"}`); a.code != http.StatusServiceUnavailable {
			t.Errorf("%s: acknowledge: %d %s", name, a.code, a.body)
		}
		if _, err := tw.ctl().ListAgents(t.Context(), &mxv1.ListAgentsRequest{}); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: gRPC ListAgents: %v", name, err)
		}
		// A stale read is answered from the local state.
		if a := tw.do(t, "GET", "/v1/incidents/"+inc.GetId()+"?stale=true", nil, ""); a.code != 200 {
			t.Errorf("%s: stale GET: %d %s", name, a.code, a.body)
		}
	}
	// A follower forwarding to another follower: the second one refuses.
	f2 := newTwin(t, twinConfig{store: l.store, node: following, cluster: &twinCluster{leader: orphan.conn}})
	if _, err := f2.ctl().ListAgents(t.Context(), &mxv1.ListAgentsRequest{}); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "forwarded") {
		t.Errorf("forwarded to a follower: %v", err)
	}
	if a := l.do(t, "POST", "/v1/incidents/"+inc.GetId()+":acknowledge", nil, `{"actor":"alice","comment":"`+strings.Repeat("x", 2048)+`"}`); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the bound: %d %s", a.code, a.body)
	}
	if a := l.do(t, "POST", "/v1/incidents/"+inc.GetId()+":acknowledge", nil, `{"actor":"alice","comment":"`+strings.Repeat("x", 900)+`"}`); a.code != 200 {
		t.Errorf("body within the bound: %d %s", a.code, a.body)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/v1/incidents/inc-0000000000000fff-1:resolve", 404},
		{"/v1/incidents/" + inc.GetId() + ":acknowledge", 400},
		{"/v1/incidents/a%20b:resolve", 400},
	} {
		if a := l.do(t, "POST", c.path, nil, `{"actor":"bob"}`); a.code != c.want {
			t.Errorf("POST %s: %d, want %d: %s", c.path, a.code, c.want, a.body)
		}
	}
}
