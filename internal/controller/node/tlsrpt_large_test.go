package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// largeReport is a valid RFC 8460 report of about size bytes: many policies,
// each with many failure details (within tlsrpt's bounds).
func largeReport(t *testing.T, id string, size int) []byte {
	t.Helper()
	type failure struct {
		ResultType string `json:"result-type"`
		SendingIP  string `json:"sending-mta-ip"`
		MX         string `json:"receiving-mx-hostname"`
		Count      int64  `json:"failed-session-count"`
		Info       string `json:"additional-information"`
	}
	type policy struct {
		Policy struct {
			Type   string   `json:"policy-type"`
			Domain string   `json:"policy-domain"`
			MX     []string `json:"mx-host"`
		} `json:"policy"`
		Summary struct {
			OK   int64 `json:"total-successful-session-count"`
			Fail int64 `json:"total-failure-session-count"`
		} `json:"summary"`
		Failures []failure `json:"failure-details"`
	}
	var r struct {
		Org   string `json:"organization-name"`
		Range struct {
			Start string `json:"start-datetime"`
			End   string `json:"end-datetime"`
		} `json:"date-range"`
		Contact  string   `json:"contact-info"`
		ID       string   `json:"report-id"`
		Policies []policy `json:"policies"`
	}
	r.Org, r.Contact, r.ID = "Large Sender Inc.", "tlsrpt@sender.example", id
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	r.Range.Start, r.Range.End = day.Format(time.RFC3339), day.Add(24*time.Hour-time.Second).Format(time.RFC3339)
	info := strings.Repeat("x", 100)
	for p := 0; p < tlsrpt.MaxPolicies; p++ {
		var pol policy
		pol.Policy.Type, pol.Policy.Domain, pol.Policy.MX = "sts", fmt.Sprintf("d%03d.example", p), []string{"mx.example"}
		pol.Summary.OK, pol.Summary.Fail = 10, int64(tlsrpt.MaxFailures)
		for f := 0; f < tlsrpt.MaxFailures; f++ {
			pol.Failures = append(pol.Failures, failure{ResultType: "certificate-expired", SendingIP: fmt.Sprintf("192.0.2.%d", f%250), MX: "mx.example", Count: 1, Info: info})
		}
		r.Policies = append(r.Policies, pol)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= size {
			return b
		}
	}
	t.Fatalf("cannot reach %d bytes within tlsrpt's bounds", size)
	return nil
}

// Every report tlsrpt accepts is accepted by the import API and the receiver
// (gzip'd or not), committed, and listed, up to MaxReportBytes of JSON.
func TestLargestAcceptedTLSReportImportsAndLists(t *testing.T) {
	n := startTLSRPTNode(t)

	big := largeReport(t, "large-import", tlsrpt.MaxReportBytes-200<<10)
	parsed, err := tlsrpt.ParseJSON(big)
	if err != nil {
		t.Fatalf("the report is not one tlsrpt accepts: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"report": base64.StdEncoding.EncodeToString(big)})
	resp, err := http.Post("http://"+n.HTTPAddr()+"/v1/tlsrpt/reports:import", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import of a %d-byte report: %s %s", len(big), resp.Status, msg)
	}

	// The receiver, as a sender posts it (RFC 8460 section 5.1): plain JSON.
	plain := largeReport(t, "large-receiver", tlsrpt.MaxReportBytes-200<<10)
	resp, err = http.Post("http://"+n.TLSRPTAddr()+"/v1/tlsrpt", "application/tlsrpt+json", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("receiver, %d-byte report: %s %s", len(plain), resp.Status, msg)
	}

	lr, err := apiClient(t, n.GRPCAddr()).ListTLSReports(t.Context(), &mxv1.ListTLSReportsRequest{})
	if err != nil {
		t.Fatalf("ListTLSReports: %v", err)
	}
	// Both together are over the listing's bound: the newest is listed, the
	// other counted as left off; the totals cover both.
	if len(lr.GetReports()) != 1 || lr.GetReportsLeftOff() != 1 || lr.GetReports()[0].GetReportId() != "large-receiver" && lr.GetReports()[0].GetReportId() != "large-import" {
		t.Fatalf("listed %d reports, %d left off; want 1 and 1", len(lr.GetReports()), lr.GetReportsLeftOff())
	}
	var reports uint32
	for _, s := range lr.GetSummaries() {
		reports += s.GetReports()
	}
	if want := uint32(2 * len(parsed.GetPolicies())); reports != want {
		t.Fatalf("summaries count %d report-policies, want %d", reports, want)
	}
	resp, err = http.Get("http://" + n.HTTPAddr() + "/v1/tlsrpt/reports")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/tlsrpt/reports: %s %.300s", resp.Status, msg)
	}
}
