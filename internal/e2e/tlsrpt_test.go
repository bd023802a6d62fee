package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// recentSample is parsedmarc's real published report smtp_tls.json (see
// internal/tlsrpt/testdata/parsedmarc/README.md) with only its date range
// moved to the day before now: the controller keeps reports 90 days after
// they end and judges them at its own clock, which a test of the real
// binaries cannot set. Organisation, policy, counts and failure details
// are the sample's, byte for byte as decoded.
func recentSample(t *testing.T, now time.Time) []byte {
	t.Helper()
	b, err := os.ReadFile("../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	day := now.UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	r["date-range"] = map[string]string{"start-datetime": day.Format(time.RFC3339), "end-datetime": day.Add(24*time.Hour - time.Second).Format(time.RFC3339)}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTLSRPTRealSampleCorrelates: real binaries. The agent on example.com
// reads a certificate store whose certificate for example.com expired; the
// controller's TLS-RPT receiver gets the real published report in which
// senders failed 3 sessions to the MX example.com with validation-failure.
// The report is stored once (a repeat over HTTPS and an import of the same
// report, gzipped, by `controller tlsrpt import` are duplicates) and joins
// the agent's incident as a peer with its impact; `controller tlsrpt list`,
// the API and the dashboard's /reports page show it per domain and sender.
func TestTLSRPTRealSampleCorrelates(t *testing.T) {
	ca, err := lab.NewCA("e2e lab CA")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ca.Issue(lab.IssueOptions{CommonName: "example.com", NotAfter: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := expired.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "mx.crt"), expired.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "mx.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr, raftAddr, rptAddr := freePort(t), freePort(t), freePort(t), freePort(t)
	start(t, "controller", "run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr, "--tlsrpt-listen", rptAddr,
		"--plan-interval", "1s", "--plan-jitter", "100ms", "--correlation-open-after-observations", "1", "--correlation-interval", "100ms")
	server := "--server=http://" + httpAddr

	report := recentSample(t, time.Now())
	post := func() int {
		resp, err := http.Post("http://"+rptAddr+"/v1/tlsrpt", "application/tlsrpt+json", bytes.NewReader(report))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var status int
	waitFor(t, 60*time.Second, "the TLS-RPT receiver to take the report", func() bool { status = post(); return status != 0 && status != http.StatusServiceUnavailable })
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/tlsrpt: %d, want 201", status)
	}
	if status = post(); status != http.StatusOK {
		t.Fatalf("repeated POST: %d, want 200 (a duplicate)", status)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(report)
	zw.Close()
	gzFile := filepath.Join(dir, "google.json.gz")
	if err := os.WriteFile(gzFile, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, "tlsrpt", "import", server, gzFile); err != nil || !strings.Contains(out, "already stored (skipped)") {
		t.Fatalf("import of the same report: %v\n%s", err, out)
	}

	// Before any agent runs, the reports alone open an incident that says so.
	type member struct {
		AgentID string `json:"agentId"`
		Role    string
		Finding struct {
			Code, Subject, Summary string
		}
	}
	type incidentsBody struct {
		Incidents []struct {
			ID, Cause, State, Summary string
			Hosts                     []string
			Members                   []member
			Timeline                  []struct{ Kind, Comment string }
		}
	}
	incidents := func() (incidentsBody, []byte) {
		var out incidentsBody
		code, body := get("http://" + httpAddr + "/v1/incidents")
		if code != 200 || json.Unmarshal(body, &out) != nil {
			return incidentsBody{}, body
		}
		return out, body
	}
	var reportsOnly string
	waitFor(t, 60*time.Second, "an incident opened by the report alone", func() bool {
		out, _ := incidents()
		for _, inc := range out.Incidents {
			if inc.Cause == "TLSRPT_FAILURES" && inc.State == "INCIDENT_STATE_OPEN" && strings.Contains(inc.Summary, "only the senders' TLS-RPT reports see it") {
				reportsOnly = inc.ID
				return true
			}
		}
		return false
	})

	// The agent on example.com starts; the report joins its incident.
	start(t, "agent", "run", "--insecure", "--agent-id", "mx01", "--site", "fra", "--hostname", "example.com",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent"), "--cert-store", "pemdir:"+store)
	var body []byte
	var peer *member
	var incID string
	waitFor(t, 120*time.Second, "the report as a peer of the agent's incident for example.com", func() bool {
		var out incidentsBody
		out, body = incidents()
		for _, inc := range out.Incidents {
			if inc.Cause != "CERT_EXPIRED" || inc.State != "INCIDENT_STATE_OPEN" || strings.Join(inc.Hosts, ",") != "example.com" {
				continue
			}
			for _, m := range inc.Members {
				if m.AgentID == "tls-rpt reports" {
					peer, incID = &m, inc.ID
					return true
				}
			}
		}
		return false
	})
	if peer.Role != "peer" || peer.Finding.Code != "TLSRPT_FAILURES" || peer.Finding.Subject != "example.com:25" ||
		!strings.Contains(peer.Finding.Summary, "Example Inc. failed 3 sessions to example.com in the last 24 h") || !strings.Contains(peer.Finding.Summary, "validation-failure") {
		t.Fatalf("report member: %+v\n%s", peer, body)
	}
	// The reports-only incident is superseded, not left open beside it.
	waitFor(t, 60*time.Second, "the reports-only incident to be resolved as superseded", func() bool {
		out, _ := incidents()
		for _, inc := range out.Incidents {
			if inc.ID == reportsOnly && inc.State == "INCIDENT_STATE_RESOLVED" {
				last := inc.Timeline[len(inc.Timeline)-1]
				if last.Kind != "resolved" || !strings.HasPrefix(last.Comment, "superseded: an agent runs on the MX now") {
					t.Fatalf("resolved with %+v", last)
				}
				return true
			}
		}
		return false
	})
	if out, err := cli(t, "incidents", "show", incID, server); err != nil || !strings.Contains(out, "tls-rpt reports") || !strings.Contains(out, "TLSRPT_FAILURES  example.com:25") {
		t.Errorf("incidents show: %v\n%s", err, out)
	}

	// Per domain and sender: the CLI, the API and the dashboard.
	if out, err := cli(t, "tlsrpt", "list", server, "--domain", "example.com"); err != nil || !strings.Contains(out, "Example Inc.") || !strings.Contains(out, "validation-failure") {
		t.Errorf("tlsrpt list: %v\n%s", err, out)
	}
	if code, b := get("http://" + httpAddr + "/v1/tlsrpt/reports?domain=example.com"); code != 200 || !strings.Contains(string(b), "2024-01-09T00:00:00Z_example.com") {
		t.Errorf("GET /v1/tlsrpt/reports: %d %s", code, b)
	}
	if code, b := get("http://" + httpAddr + "/reports?domain=example.com"); code != 200 || !strings.Contains(string(b), "Example Inc.") || !strings.Contains(string(b), "validation-failure=3") ||
		strings.Contains(string(b), "Reports stopped") {
		t.Errorf("dashboard /reports: %d %s", code, b)
	}
}
