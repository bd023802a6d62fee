package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// GET /v1/results on a follower (forwarded): each agent's latest result per
// check with since and history, the failing filter, paging by token; a
// forged token and one past the end are 400, one with more after it pages on.
func TestRESTResultsWithHistoryAndPaging(t *testing.T) {
	l := newTwin(t, twinConfig{})
	f := l.follower(t, false)
	result := func(code string) *mxv1.CheckResult {
		return &mxv1.CheckResult{Check: "certstore", Target: "My", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
			Findings: []*mxv1.Finding{{Code: code, Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "AB12"}}}
	}
	for _, id := range []string{"edge01", "edge02", "edge03"} {
		l.report(t, id, "amsterdam", 1, result("CERT_NO_PRIVATE_KEY"))
	}
	l.report(t, "edge02", "amsterdam", 2, result("CERT_EXPIRED"))
	type page struct {
		Results []struct {
			AgentID string `json:"agentId"`
			Since   string `json:"since"`
			History []struct {
				Status string   `json:"status"`
				Codes  []string `json:"codes"`
			} `json:"history"`
		} `json:"results"`
		Next string `json:"nextPageToken"`
	}
	get := func(query string) (int, page) {
		t.Helper()
		a := f.do(t, "GET", "/v1/results"+query, nil, "")
		var p page
		if a.code == 200 {
			if err := json.Unmarshal([]byte(a.body), &p); err != nil {
				t.Fatalf("%s: %v", a.body, err)
			}
		}
		return a.code, p
	}
	code, p := get("?failing=true&agentId=edge02")
	if code != 200 || len(p.Results) != 1 || p.Results[0].Since == "" || len(p.Results[0].History) != 2 ||
		p.Results[0].History[1].Codes[0] != "CERT_EXPIRED" || p.Results[0].History[1].Status != "CHECK_STATUS_FAIL" {
		t.Fatalf("edge02: %d %+v", code, p)
	}
	var agents []string
	tok := ""
	for range 5 {
		code, p := get("?pageSize=2&pageToken=" + tok)
		if code != 200 {
			t.Fatalf("page: %d", code)
		}
		for _, r := range p.Results {
			agents = append(agents, r.AgentID)
		}
		if tok = p.Next; tok == "" {
			break
		}
	}
	if strings.Join(agents, ",") != "edge01,edge02,edge03" {
		t.Fatalf("paged agents %v", agents)
	}
	if code, _ := get("?pageToken=not-a-token"); code != http.StatusBadRequest {
		t.Fatalf("forged token: %d", code)
	}
	past := base64.RawURLEncoding.EncodeToString([]byte("edge03\x00zzz\x00"))
	if code, _ := get("?pageToken=" + past); code != http.StatusBadRequest {
		t.Fatalf("token past the end: %d, want 400", code)
	}
	if code, p := get("?pageToken=" + base64.RawURLEncoding.EncodeToString([]byte("edge01\x00zzz\x00"))); code != 200 || len(p.Results) != 2 || p.Results[0].AgentID != "edge02" {
		t.Fatalf("cursor after edge01: %d %+v", code, p)
	}
	if code, _ := get("?site=" + strings.Repeat("s", 129)); code != http.StatusBadRequest {
		t.Fatalf("site over 128 characters: %d", code)
	}
}

// Deliveries: ?status=FAILED (the enum's short name) lists the failed one,
// :redeliver puts it back to PENDING and refuses it then (400), an unknown
// one is 404; a target disabled by 410 is listed and re-enabled.
func TestRESTDeliveriesRedeliverAndTargets(t *testing.T) {
	tw := newTwin(t, twinConfig{})
	inc := tw.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	ev := &mxv1.NotificationEvent{Id: "msg_1", Type: incident.EventOpened, IncidentId: inc.GetId(), Sequence: 1, Incident: inc}
	if err := tw.store.NotifyEnqueue(t.Context(), &mxv1.NotifyEnqueue{
		Cursors:    []*mxv1.NotifyCursor{{IncidentId: inc.GetId(), Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN}},
		Deliveries: []*mxv1.Delivery{{Id: "ops/msg_1", Target: "ops", Event: ev}, {Id: "audit/msg_1", Target: "audit", Event: ev}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tw.store.NotifyOutcome(t.Context(), &mxv1.NotifyOutcome{DeliveryId: "ops/msg_1", Status: mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED, Attempts: 1, HttpStatus: 400, LastError: "HTTP 400"}); err != nil {
		t.Fatal(err)
	}
	type listing struct {
		Deliveries []struct {
			ID, Status, LastError string
			LastHTTPStatus        int `json:"lastHttpStatus"`
		}
	}
	list := func(query string) listing {
		t.Helper()
		a := tw.do(t, "GET", "/v1/deliveries"+query, nil, "")
		var r listing
		if a.code != 200 || json.Unmarshal([]byte(a.body), &r) != nil {
			t.Fatalf("GET /v1/deliveries%s: %d %s", query, a.code, a.body)
		}
		return r
	}
	for _, q := range []string{"?status=FAILED", "?status=failed", "?status=DELIVERY_STATUS_FAILED"} {
		if r := list(q); len(r.Deliveries) != 1 || r.Deliveries[0].ID != "ops/msg_1" || r.Deliveries[0].LastError != "HTTP 400" || r.Deliveries[0].LastHTTPStatus != 400 {
			t.Fatalf("%s: %+v", q, r)
		}
	}
	if r := list("?pageSize=1"); len(r.Deliveries) != 1 {
		t.Fatalf("one page of one: %+v", r)
	}
	if a := tw.do(t, "GET", "/v1/deliveries?status=NOPE", nil, ""); a.code != http.StatusBadRequest {
		t.Errorf("unknown status: %d", a.code)
	}
	if a := tw.do(t, "POST", "/v1/deliveries/ops/msg_1:redeliver", nil, `{"actor":"alice"}`); a.code != 200 || !strings.Contains(a.body, "DELIVERY_STATUS_PENDING") {
		t.Fatalf("redeliver: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", "/v1/deliveries/ops/msg_1:redeliver", nil, `{"actor":"alice"}`); a.code != http.StatusBadRequest {
		t.Fatalf("redeliver a pending one: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", "/v1/deliveries/ops/msg_nope:redeliver", nil, `{}`); a.code != http.StatusNotFound {
		t.Fatalf("redeliver unknown: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", "/v1/notify/targets/nobody:enable", nil, `{}`); a.code != http.StatusNotFound {
		t.Fatalf("enable a target never disabled: %d %s", a.code, a.body)
	}
	if err := tw.store.NotifyTargetState(t.Context(), &mxv1.NotifyTargetState{Target: "ops", Disabled: true, Reason: "410 Gone"}); err != nil {
		t.Fatal(err)
	}
	if a := tw.do(t, "GET", "/v1/notify/targets", nil, ""); a.code != 200 || !strings.Contains(a.body, `"disabled":true`) {
		t.Fatalf("targets: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", "/v1/notify/targets/ops:enable", nil, `{}`); a.code != 200 || strings.Contains(a.body, `"disabled":true`) {
		t.Fatalf("enable: %d %s", a.code, a.body)
	}
	if tw.store.State().NotifyTarget("ops").GetDisabled() {
		t.Fatal("still disabled")
	}
}

// TLS-RPT: a real published report (parsedmarc's smtp_tls.json) imported
// through a follower (forwarded, then a duplicate), listed per policy
// domain and organisation through REST and gRPC, filtered; bad input 400.
// The command clock is the morning after the report's day (older reports
// are pruned).
func TestTLSReportsImportAndListing(t *testing.T) {
	sample, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC) }
	l := newTwin(t, twinConfig{storeOpts: []func(*store.Config){func(c *store.Config) { c.Now = clock }}})
	f := l.follower(t, false)
	imp, err := f.ctl().ImportTLSReport(t.Context(), &mxv1.ImportTLSReportRequest{Report: sample})
	if err != nil || imp.GetDuplicate() || imp.GetOrganizationName() == "" || len(imp.GetPolicyDomains()) == 0 {
		t.Fatalf("import: %v %v", imp, err)
	}
	if again, err := f.ctl().ImportTLSReport(t.Context(), &mxv1.ImportTLSReportRequest{Report: sample}); err != nil || !again.GetDuplicate() {
		t.Fatalf("import again: %v %v", again, err)
	}
	if _, err := l.ctl().ImportTLSReport(t.Context(), &mxv1.ImportTLSReportRequest{Report: []byte("{not json")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("import garbage: %v", err)
	}
	lr, err := f.ctl().ListTLSReports(t.Context(), &mxv1.ListTLSReportsRequest{Domain: "example.com."})
	if err != nil || len(lr.GetReports()) != 1 || len(lr.GetSummaries()) != 1 || lr.GetSummaries()[0].GetFailuresByResult()["validation-failure"] != 3 {
		t.Fatalf("ListTLSReports: %v %v", lr, err)
	}
	a := l.do(t, "GET", "/v1/tlsrpt/reports?organization="+strings.ReplaceAll(imp.GetOrganizationName(), " ", "%20"), nil, "")
	var r struct {
		Reports   []struct{ ReportID string } `json:"reports"`
		Summaries []struct {
			PolicyDomain string `json:"policyDomain"`
		} `json:"summaries"`
	}
	if a.code != 200 || json.Unmarshal([]byte(a.body), &r) != nil || len(r.Reports) != 1 || len(r.Summaries) == 0 {
		t.Fatalf("REST listing: %d %s", a.code, a.body)
	}
	if a := l.do(t, "GET", "/v1/tlsrpt/reports?organization=nobody", nil, ""); a.code != 200 || !strings.Contains(a.body, `"reports":[]`) {
		t.Fatalf("another organisation: %d %s", a.code, a.body)
	}
	if a := l.do(t, "GET", "/v1/tlsrpt/reports?limit=1001", nil, ""); a.code != http.StatusBadRequest {
		t.Fatalf("limit over 1000: %d %s", a.code, a.body)
	}
}
