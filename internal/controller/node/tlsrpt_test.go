package node

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// startTLSRPTNode starts a one-node insecure controller with the TLS-RPT
// receiver and waits until it leads; opts adjust its config.
func startTLSRPTNode(t *testing.T, opts ...func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", TLSRPTListen: "127.0.0.1:0", RaftListen: freePort(t),
		Plan:   ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second},
		Logger: quiet(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for !n.Store().LeaderReady() || n.TLSRPTAddr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("node never led")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// A real published TLS-RPT report (parsedmarc's smtp_tls.json: Google's
// shape, validation-failure to the MX example.com) arrives on the
// unauthenticated receiver, is committed through raft, and joins the
// incident the agent on example.com opened for its untrusted certificate.
// The command clock is set to the morning after the report's day.
func TestRealTLSRPTReportCorrelatesWithAgentIncident(t *testing.T) {
	sample, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC) }
	n := startTLSRPTNode(t, func(c *Config) {
		c.CommandClock = clock
		c.Correlation = correlate.LoopConfig{Now: clock, Interval: 20 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1}}
	})
	deadline := time.Now().Add(30 * time.Second)

	// The agent on example.com reports an untrusted certificate.
	st, err := dial(t, n.GRPCAddr()).Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *mxv1.ConnectRequest) *mxv1.ConnectResponse {
		t.Helper()
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "mx01", Site: "fra", Hostname: "example.com"}}})
	send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: 1, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s",
		Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{{Code: "CERT_UNTRUSTED", Severity: mxv1.Severity_SEVERITY_ERROR, Subject: "C0FFEE",
			SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Summary: "Certificate C0FFEE chains to an untrusted root", Remediation: "Use a public CA."}}}}}}})

	url := "http://" + n.TLSRPTAddr() + "/v1/tlsrpt"
	resp, err := http.Post(url, "application/tlsrpt+json", bytes.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	// The API port does not take reports; the receiver serves nothing else.
	if r, err := http.Get("http://" + n.TLSRPTAddr() + "/v1/incidents"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("receiver serves other paths: %v %v", r, err)
	}
	resp, _ = http.Post(url, "application/tlsrpt+json", bytes.NewReader(sample))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(n.Store().State().TLSReports()) != 1 {
		t.Fatalf("duplicate: %s, %d reports", resp.Status, len(n.Store().State().TLSReports()))
	}

	var inc *mxv1.Incident
	for time.Now().Before(deadline) && inc == nil {
		for _, i := range incidentsOf(n) {
			for _, m := range i.GetMembers() {
				if m.GetAgentId() == tlsrpt.AgentID && i.GetCause() == "CERT_UNTRUSTED" {
					inc = i
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if inc == nil {
		t.Fatalf("report never joined the agent's incident: %v", incidentsOf(n))
	}
	if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER || strings.Join(inc.GetHosts(), ",") != "example.com" {
		t.Fatalf("incident: %v", inc)
	}
	var summary string
	for _, m := range inc.GetMembers() {
		if m.GetAgentId() == tlsrpt.AgentID {
			summary = m.GetFinding().GetSummary()
		}
	}
	if want := "Example Inc. failed 3 sessions to example.com in the last 24 h"; !strings.Contains(summary, want) {
		t.Fatalf("impact %q, want %q", summary, want)
	}
	// API: reports per domain and sender.
	lr, err := apiClient(t, n.GRPCAddr()).ListTLSReports(t.Context(), &mxv1.ListTLSReportsRequest{Domain: "example.com"})
	if err != nil || len(lr.GetSummaries()) != 1 || lr.GetSummaries()[0].GetFailuresByResult()["validation-failure"] != 3 {
		t.Fatalf("ListTLSReports: %v %v", lr, err)
	}
}
