package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// The TLS-RPT page sums the stored reports per policy domain and sender
// and lists the newest with their failures; ?domain= and ?org= narrow it;
// a sender's hostile organisation name is text; it needs a login.
func TestReportsPage(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	w := f.get(h, "/reports")
	mustContain(t, "empty reports page", w.Body.String(), "No TLS-RPT reports yet", `aria-current="page">TLS-RPT`)

	var reps []*mxv1.TLSReport
	for _, j := range []string{
		`{"organization-name":"Microsoft Corporation","contact-info":"tlsrpt-noreply@microsoft.com","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},
"report-id":"ms-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"contoso.com"},"summary":{"total-successful-session-count":10,"total-failure-session-count":412},
"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mail.contoso.com","receiving-ip":"203.0.113.25","sending-mta-ip":"198.51.100.9","failed-session-count":412}]}]}`,
		`{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},
"report-id":"g-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"fabrikam.com"},"summary":{"total-successful-session-count":48,"total-failure-session-count":0}}]}`,
		`{"organization-name":"<script>alert(1)</script>","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},
"report-id":"x-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"fabrikam.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
	} {
		r, err := tlsrpt.Parse([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		r.Source = "https"
		reps = append(reps, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.st.ProposeTLSReports(ctx, reps); err != nil {
		t.Fatal(err)
	}

	w = f.get(h, "/reports")
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("GET /reports: %d %s", w.Code, body)
	}
	mustContain(t, "reports page", body, "3 reports stored", `href="/reports?domain=contoso.com"`, "Microsoft Corporation", "Google Inc.",
		"certificate-expired=412", "mail.contoso.com", "<code>ms-1</code>", "via https", "<code>certificate-expired</code> × 412 from 198.51.100.9 to <strong>mail.contoso.com</strong> (203.0.113.25)",
		"no-policy-found for fabrikam.com", "&lt;script&gt;alert(1)&lt;/script&gt;")
	if strings.Contains(body, "<script>alert(1)") {
		t.Error("the organisation name was not escaped")
	}

	w = f.get(h, "/reports?domain=fabrikam.com")
	body = w.Body.String()
	mustContain(t, "reports for fabrikam.com", body, "Google Inc.", "domain <strong>fabrikam.com</strong>")
	if strings.Contains(body, "Microsoft Corporation") || strings.Contains(body, "ms-1") {
		t.Errorf("domain filter shows contoso.com's report:\n%s", body)
	}
	w = f.get(h, "/reports?org=microsoft%20corporation")
	if body = w.Body.String(); !strings.Contains(body, "ms-1") || strings.Contains(body, "g-1") {
		t.Errorf("sender filter:\n%s", body)
	}
	if w := f.get(h, "/reports?domain="+strings.Repeat("a", 300)); w.Code != http.StatusBadRequest {
		t.Errorf("long domain: %d", w.Code)
	}
	if w := do(h, "GET", "/reports", nil, nil); w.Code != http.StatusSeeOther {
		t.Errorf("without a login: %d, want a redirect to the login form", w.Code)
	}
}

// A domain whose newest report ended longer ago than the expiry (report
// window plus tlsrpt.stale_grace) is marked "reports stopped" with since
// when, in its summary rows and in a notice that says what to check; a
// domain with a recent report is not; the node's expiry decides.
func TestReportsPageMarksStoppedReports(t *testing.T) {
	f := newFixture(t)
	var reps []*mxv1.TLSReport
	for _, j := range []string{
		`{"organization-name":"Microsoft Corporation","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},
"report-id":"ms-recent","policies":[{"policy":{"policy-type":"sts","policy-domain":"contoso.com"},"summary":{"total-successful-session-count":10,"total-failure-session-count":0}}]}`,
		`{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-11-19T00:00:00Z","end-datetime":"2026-11-20T00:00:00Z"},
"report-id":"g-old","policies":[{"policy":{"policy-type":"sts","policy-domain":"Fabrikam.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":4},
"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.fabrikam.com","failed-session-count":4}]}]}`,
	} {
		r, err := tlsrpt.Parse([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.st.ProposeTLSReports(ctx, reps); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }
	body := f.get(f.handler(func(c *Config) { c.Now = now }), "/reports").Body.String()
	mustContain(t, "reports page", body, `<strong>Reports stopped</strong> for <a href="/reports?domain=fabrikam.com">fabrikam.com</a> (none since 2026-11-20 00:00 UTC, due within 72 h)`,
		`<span class="stale" title="none since 2026-11-20 00:00 UTC, due within 72 h">reports stopped</span>`)
	if n := strings.Count(body, "reports stopped</span>"); n != 1 {
		t.Errorf("%d domains marked, want fabrikam.com alone:\n%s", n, body)
	}
	if strings.Contains(body, "contoso.com (none since") {
		t.Errorf("contoso.com's report of yesterday marked as stopped:\n%s", body)
	}
	// A node whose stale_grace is longer marks nothing; one whose grace is
	// shorter marks contoso.com too.
	body = f.get(f.handler(func(c *Config) { c.Now, c.TLSRPTExpireAfter = now, 30*24*time.Hour }), "/reports").Body.String()
	if strings.Contains(body, "Reports stopped") {
		t.Errorf("marked with a 30-day expiry:\n%s", body)
	}
	body = f.get(f.handler(func(c *Config) { c.Now, c.TLSRPTExpireAfter = now, 25*time.Hour }), "/reports").Body.String()
	mustContain(t, "short expiry", body, `<a href="/reports?domain=contoso.com">contoso.com</a> (none since 2026-12-02 00:00 UTC, due within 25 h)`)
}
