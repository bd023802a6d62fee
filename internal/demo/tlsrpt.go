package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// The demo's outside view: a TLS-RPT report (RFC 8460) as Exchange Online
// would send it for the demo's mail domain, saying what the agents see on
// the Edge with the expired certificate: senders failed sessions to that MX
// with certificate-expired. It is generated at start (date range: the 24
// hours up to the current hour), posted gzipped to the controller's TLS-RPT
// receiver like a sender's https rua delivery, and correlation folds it into
// the agents' incident for that MX.

// demoDomain is the policy domain of the demo's report.
const demoDomain = "contoso.test"

// Figures of the generated report.
const (
	reportOrg       = "Microsoft Corporation"
	reportFailed    = 412
	reportSucceeded = 1250
)

// rfc8460 is the report's JSON (RFC 8460 section 4.4).
type rfc8460 struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string         `json:"contact-info"`
	ReportID    string         `json:"report-id"`
	Policies    []rfc8460Entry `json:"policies"`
}

type rfc8460Entry struct {
	Policy struct {
		Type    string   `json:"policy-type"`
		Strings []string `json:"policy-string"`
		Domain  string   `json:"policy-domain"`
		MXHost  []string `json:"mx-host"`
	} `json:"policy"`
	Summary struct {
		Success uint64 `json:"total-successful-session-count"`
		Failure uint64 `json:"total-failure-session-count"`
	} `json:"summary"`
	Failures []rfc8460Failure `json:"failure-details"`
}

type rfc8460Failure struct {
	ResultType  string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip"`
	MXHostname  string `json:"receiving-mx-hostname"`
	ReceivingIP string `json:"receiving-ip"`
	Count       uint64 `json:"failed-session-count"`
}

// expiredMXReport is the report for mx (whose address is addr) ending at
// the hour of now.
func expiredMXReport(mx, addr string, now time.Time) ([]byte, string, error) {
	end := now.UTC().Truncate(time.Hour)
	var r rfc8460
	r.OrganizationName = reportOrg
	r.DateRange.Start = end.Add(-24 * time.Hour).Format(time.RFC3339)
	r.DateRange.End = end.Format(time.RFC3339)
	r.ContactInfo = "tlsrpt-noreply@microsoft.com"
	r.ReportID = fmt.Sprintf("%s_%s_demo", r.DateRange.Start, demoDomain)
	var p rfc8460Entry
	p.Policy.Type = "sts"
	p.Policy.Strings = []string{"version: STSv1", "mode: enforce", "mx: *." + demoDomain, "max_age: 604800"}
	p.Policy.Domain = demoDomain
	p.Policy.MXHost = []string{"*." + demoDomain}
	p.Summary.Success, p.Summary.Failure = reportSucceeded, reportFailed
	ip, _, err := net.SplitHostPort(addr)
	if err != nil {
		ip = addr
	}
	p.Failures = []rfc8460Failure{
		{ResultType: "certificate-expired", SendingIP: "203.0.113.25", MXHostname: mx, ReceivingIP: ip, Count: reportFailed - 12},
		{ResultType: "certificate-expired", SendingIP: "203.0.113.26", MXHostname: mx, ReceivingIP: ip, Count: 12},
	}
	r.Policies = []rfc8460Entry{p}
	b, err := json.Marshal(r)
	return b, r.ReportID, err
}

// postReport delivers a report to the receiver at addr as a sender's https
// rua delivery does (application/tlsrpt+gzip).
func postReport(ctx context.Context, addr string, report []byte) error {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(report); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/tlsrpt", &z)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("demo: posting the TLS-RPT report: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("demo: posting the TLS-RPT report: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
