package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
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

// expiredMXReport is the report for mx (whose address is addr) ending at
// the hour of now.
func expiredMXReport(mx, addr string, now time.Time) ([]byte, string, error) {
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	ip, _, err := net.SplitHostPort(addr)
	if err != nil {
		ip = addr
	}
	r := &mxv1.TLSReport{
		ReportId:         fmt.Sprintf("%s_%s_demo", start.Format(time.RFC3339), demoDomain),
		OrganizationName: reportOrg, ContactInfo: "tlsrpt-noreply@microsoft.com",
		Start: timestamppb.New(start), End: timestamppb.New(end),
		Policies: []*mxv1.TLSReportPolicy{{
			PolicyType: "sts", PolicyDomain: demoDomain,
			PolicyStrings: []string{"version: STSv1", "mode: enforce", "mx: *." + demoDomain, "max_age: 604800"},
			MxHosts:       []string{"*." + demoDomain}, SuccessfulSessions: reportSucceeded, FailedSessions: reportFailed,
			Failures: []*mxv1.TLSReportFailure{
				{ResultType: "certificate-expired", SendingMtaIp: "203.0.113.25", ReceivingMxHostname: mx, ReceivingIp: ip, FailedSessions: reportFailed - 12},
				{ResultType: "certificate-expired", SendingMtaIp: "203.0.113.26", ReceivingMxHostname: mx, ReceivingIp: ip, FailedSessions: 12},
			},
		}},
	}
	b, err := tlsrpt.MarshalJSON(r)
	return b, r.GetReportId(), err
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
