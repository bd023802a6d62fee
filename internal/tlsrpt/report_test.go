package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// Report builds a report as senders send it, for tests.
func report(id, org, domain, start, end string, success, fail int, failures ...string) []byte {
	var fd []string
	for _, f := range failures {
		// "result-type mx ip count"
		p := strings.Fields(f)
		fd = append(fd, fmt.Sprintf(`{"result-type":%q,"sending-mta-ip":"198.51.100.7","receiving-mx-hostname":%q,"receiving-ip":%q,"failed-session-count":%s}`, p[0], p[1], p[2], p[3]))
	}
	return fmt.Appendf(nil, `{"organization-name":%q,"date-range":{"start-datetime":%q,"end-datetime":%q},"contact-info":"tlsrpt@%s","report-id":%q,
"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: *.%s","max_age: 604800"],"policy-domain":%q,"mx-host":["*.%s"]},
"summary":{"total-successful-session-count":%d,"total-failure-session-count":%d},"failure-details":[%s]}]}`,
		org, start, end, strings.ToLower(strings.Fields(org)[0])+".example", id, domain, domain, domain, success, fail, strings.Join(fd, ","))
}

func TestParsePublishedSamples(t *testing.T) {
	for _, c := range []struct {
		file, id, org, domain, ptype string
		success, failed              uint64
		failures                     int
	}{
		{"google.com_smtp_tls_report.eml", "2024-09-03T00:00:00Z_cardinalhealth.ca", "Google Inc.", "cardinalhealth.ca", "no-policy-found", 48, 0, 0},
		{"mail.ru.json", "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru", "Mail.ru", "example.com", "sts", 0, 1, 2},
		{"smtp_tls.json", "2024-01-09T00:00:00Z_example.com", "Example Inc.", "example.com", "sts", 0, 3, 2},
	} {
		b, err := os.ReadFile("testdata/parsedmarc/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		p := r.GetPolicies()[0]
		if r.GetReportId() != c.id || r.GetOrganizationName() != c.org || p.GetPolicyDomain() != c.domain || p.GetPolicyType() != c.ptype ||
			p.GetSuccessfulSessions() != c.success || p.GetFailedSessions() != c.failed || len(p.GetFailures()) != c.failures {
			t.Errorf("%s: parsed %v", c.file, r)
		}
	}
}

func TestParseFormsAndErrors(t *testing.T) {
	j := report("r1", "Microsoft Corporation", "contoso.com", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z", 100, 12,
		"certificate-expired mail.contoso.com 203.0.113.25 12")
	for name, in := range map[string][]byte{"json": j, "gzip": gz(t, j), "bom+space": append([]byte("\xef\xbb\xbf \n"), j...)} {
		r, err := Parse(in)
		if err != nil || r.GetPolicies()[0].GetFailures()[0].GetReceivingMxHostname() != "mail.contoso.com" {
			t.Errorf("%s: %v %v", name, r, err)
		}
	}
	bad := map[string]string{
		"no id":        `{"organization-name":"x","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"},"policies":[]}`,
		"bad time":     strings.Replace(string(j), "2026-12-01T00:00:00Z", "yesterday", 1),
		"end first":    strings.Replace(string(j), "2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z", 1),
		"policy type":  strings.Replace(string(j), `"policy-type":"sts"`, `"policy-type":"smtp"`, 1),
		"no summary":   strings.Replace(string(j), `"summary"`, `"summery"`, 1),
		"trailing":     string(j) + `{}`,
		"truncated":    string(j[:len(j)/2]),
		"not anything": "hello",
	}
	for name, in := range bad {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGzipBombStops(t *testing.T) {
	// 64 MiB of zeros compress to about 64 KiB.
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	zero := make([]byte, 1<<20)
	w.Write([]byte(`{"organization-name":"`))
	for range 64 {
		w.Write(zero)
	}
	w.Close()
	if buf.Len() > MaxCompressedBytes {
		t.Fatalf("bomb is %d bytes compressed", buf.Len())
	}
	if _, err := Parse(buf.Bytes()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v, want ErrTooLarge", err)
	}
}

func TestParseMailVariants(t *testing.T) {
	j := report("r2", "Google Inc.", "contoso.com", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z", 5, 0)
	plain := "From: a@b\r\nSubject: x\r\nContent-Type: multipart/report; boundary=\"b1\"; report-type=tlsrpt\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/tlsrpt+json\r\nContent-Disposition: attachment; filename=\"r.json\"\r\n\r\n" + string(j) + "\r\n--b1--\r\n"
	if r, err := Parse([]byte(plain)); err != nil || r.GetReportId() != "r2" {
		t.Fatalf("json attachment: %v %v", r, err)
	}
	none := "From: a@b\r\nContent-Type: text/plain\r\n\r\njust text\r\n"
	if _, err := Parse([]byte(none)); !errors.Is(err, ErrNoReport) {
		t.Fatalf("no attachment: %v", err)
	}
	deep := "From: a@b\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n"
	for range 6 {
		deep += "--x\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n"
	}
	if _, err := Parse([]byte(deep)); err == nil {
		t.Fatal("deep nesting accepted")
	}
}

func TestRecords(t *testing.T) {
	r, err := ParseRecords([]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:tlsrpt@contoso.com,https://ctl.contoso.com/v1/tlsrpt"})
	if err != nil || len(r.RUA) != 2 {
		t.Fatalf("%v %v", r, err)
	}
	for _, bad := range [][]string{
		{"v=TLSRPTv1;"}, {"v=TLSRPTv1; rua=ftp://x"}, {"v=TLSRPTv1; rua=mailto:not an address"},
		{"v=TLSRPTv1; rua=mailto:a@b.c", "v=TLSRPTv1; rua=mailto:d@e.f"}, {"v=TLSRPTv1 rua=mailto:a@b.c"},
	} {
		if _, err := ParseRecords(bad); !errors.Is(err, ErrRecordInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := ParseRecords([]string{"v=spf1"}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("none: %v", err)
	}
}

func parse(t *testing.T, b []byte) *mxv1.TLSReport {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeriveImpact(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	reports := []*mxv1.TLSReport{
		parse(t, report("ms-1", "Microsoft Corporation", "contoso.com", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 900, 300,
			"certificate-expired mail.contoso.com 203.0.113.25 300")),
		parse(t, report("g-1", "Google Inc.", "contoso.com", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z", 1000, 112,
			"certificate-expired mail.contoso.com 203.0.113.25 100", "certificate-host-mismatch mail.contoso.com 203.0.113.25 12")),
		// Older than the window: not counted.
		parse(t, report("g-0", "Google Inc.", "contoso.com", "2026-11-28T00:00:00Z", "2026-11-28T23:59:59Z", 10, 5,
			"starttls-not-supported mail.contoso.com 203.0.113.25 5")),
		// Another domain, not asked for.
		parse(t, report("g-2", "Google Inc.", "fabrikam.com", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z", 1, 1,
			"certificate-expired mx.fabrikam.com 192.0.2.1 1")),
	}
	d := Derive(reports, map[string]bool{"contoso.com": true}, now, 0)
	if len(d.Results) != 2 {
		t.Fatalf("results: %v", d.Results)
	}
	mx := d.Results[0]
	if mx.GetTarget() != MXTarget("contoso.com", "mail.contoso.com") || mx.GetStatus() != mxv1.CheckStatus_CHECK_STATUS_FAIL || len(mx.GetFindings()) != 1 {
		t.Fatalf("mx result: %v", mx)
	}
	f := mx.GetFindings()[0]
	want := "Microsoft Corporation and Google Inc. failed 412 sessions to mail.contoso.com in the last 24 h (reports to 2026-12-02 00:00 UTC): certificate-expired, certificate-host-mismatch"
	if f.GetSummary() != want {
		t.Errorf("summary\n got %q\nwant %q", f.GetSummary(), want)
	}
	if f.GetCode() != "TLSRPT_FAILURES" || f.GetSubject() != "mail.contoso.com:25" || f.GetSeverity() != mxv1.Severity_SEVERITY_ERROR ||
		f.GetEvidence()["result_types"] != "certificate-expired=400,certificate-host-mismatch=12" || f.GetEvidence()["report_ids"] != "g-1,ms-1" ||
		!strings.Contains(f.GetRemediation(), "renew the certificate") {
		t.Errorf("finding: %v", f)
	}
	if dom := d.Results[1]; dom.GetTarget() != DomainTarget("contoso.com") || len(dom.GetFindings()) != 0 || dom.GetStatus() != mxv1.CheckStatus_CHECK_STATUS_OK {
		t.Errorf("domain result: %v", dom)
	}
	// Order does not matter.
	rev := []*mxv1.TLSReport{reports[3], reports[2], reports[1], reports[0]}
	if d2 := Derive(rev, map[string]bool{"contoso.com": true}, now, 0); d2.Results[0].GetFindings()[0].GetSummary() != want {
		t.Error("Derive depends on order")
	}
	// A day later a clean report: the MX result is clean.
	clean := parse(t, report("g-3", "Google Inc.", "contoso.com", "2026-12-02T00:00:00Z", "2026-12-02T23:59:59Z", 1200, 0))
	d3 := Derive(append(reports, clean), map[string]bool{"contoso.com": true}, now.Add(24*time.Hour), 0)
	if len(d3.Results[0].GetFindings()) != 0 || d3.Results[0].GetStatus() != mxv1.CheckStatus_CHECK_STATUS_OK {
		t.Errorf("after a clean day: %v", d3.Results[0])
	}
	// Importing only old reports changes nothing.
	if d4 := Derive(reports[2:3], map[string]bool{"contoso.com": true}, now, 0); len(d4.Results) != 0 {
		t.Errorf("stale import produced %v", d4.Results)
	}
}

func TestDerivePolicyFailuresFromRealSample(t *testing.T) {
	b, _ := os.ReadFile("testdata/parsedmarc/mail.ru.json")
	r := parse(t, b)
	d := Derive([]*mxv1.TLSReport{r}, map[string]bool{"example.com": true}, r.GetEnd().AsTime().Add(3*time.Hour), 0)
	if len(d.Results) != 1 || len(d.Results[0].GetFindings()) != 1 {
		t.Fatalf("%v", d.Results)
	}
	f := d.Results[0].GetFindings()[0]
	if f.GetCode() != "TLSRPT_POLICY_FAILURES" || f.GetSubject() != "example.com" || f.GetSeverity() != mxv1.Severity_SEVERITY_CRITICAL ||
		f.GetEvidence()["failure_reason_codes"] != "bad https response code: 404,bad https response code: 500" || !strings.Contains(f.GetRemediation(), "mta-sts.example.com") {
		t.Errorf("%v", f)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(report("r1", "Google Inc.", "contoso.com", "2026-12-01T00:00:00Z", "2026-12-01T23:59:59Z", 1, 1, "certificate-expired mx 1.2.3.4 1"))
	for _, n := range []string{"google.com_smtp_tls_report.eml", "mail.ru.json", "smtp_tls.json"} {
		if b, err := os.ReadFile("testdata/parsedmarc/" + n); err == nil {
			f.Add(b)
		}
	}
	f.Add(gz(f, []byte(`{"a":1}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err == nil && (r.GetReportId() == "" || len(r.GetPolicies()) == 0) {
			t.Fatalf("accepted a report without id or policies: %v", r)
		}
	})
}

// The published samples keep their attribution: every file is described
// in the README, which names the source and licence, and the licence is
// next to them.
func TestPublishedSamplesAttributed(t *testing.T) {
	readme, err := os.ReadFile("testdata/parsedmarc/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://github.com/domainaware/parsedmarc", "Apache License 2.0", "`LICENSE`"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	lic, err := os.ReadFile("testdata/parsedmarc/LICENSE")
	if err != nil || !strings.Contains(string(lic), "Apache License") || !strings.Contains(string(lic), "Version 2.0, January 2004") {
		t.Fatalf("LICENSE: %v", err)
	}
	entries, err := os.ReadDir("testdata/parsedmarc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != "README.md" && n != "LICENSE" && !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("%s is not described in README.md", n)
		}
	}
}
