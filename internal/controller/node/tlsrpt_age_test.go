package node

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// The whole controller: a real published report (report window ending
// 2024-01-09 23:59:59) arrives on the receiver and opens an incident on
// its own; with tlsrpt.stale_grace 6h no newer report comes within 30 h,
// so the leader's tick ages its findings, the API shows them as what was
// last known (WARNING, stale) plus TLSRPT_REPORTS_STALE, and the incident
// stays open, marked stale, instead of resolving.
func TestTLSRPTFindingsAgeInTheController(t *testing.T) {
	sample, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Start(ctx, Config{
		NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true, CommandClock: clock,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", TLSRPTListen: "127.0.0.1:0", RaftListen: freePort(t),
		TLSRPTExpireAfter: tlsrpt.ExpireAfter(6 * time.Hour), tlsrptAgeEvery: 10 * time.Millisecond,
		Plan:        ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second},
		Correlation: correlate.LoopConfig{Now: clock, Interval: 20 * time.Millisecond, IdleInterval: 20 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1}},
		Logger:      quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(60 * time.Second) // a hang guard, not a timing assertion
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened; incidents: %v", what, incidentsOf(n))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("leadership", func() bool { return n.Store().LeaderReady() && n.TLSRPTAddr() != "" })
	resp, err := http.Post("http://"+n.TLSRPTAddr()+"/v1/tlsrpt", "application/tlsrpt+json", bytes.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reportIncident := func() *mxv1.Incident {
		for _, i := range incidentsOf(n) {
			if i.GetCause() == "TLSRPT_FAILURES" {
				return i
			}
		}
		return nil
	}
	wait("the report's incident", func() bool { return reportIncident().GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN })

	mu.Lock()
	now = time.Date(2024, 1, 11, 6, 0, 0, 0, time.UTC) // 30 h after the window's end
	mu.Unlock()
	wait("the incident going stale", func() bool { return reportIncident().GetStale() })
	inc := reportIncident()
	if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || inc.GetSeverity() != mxv1.Severity_SEVERITY_WARNING {
		t.Fatalf("stale incident: %v", inc)
	}
	fs, err := apiClient(t, n.GRPCAddr()).ListFindings(t.Context(), &mxv1.ListFindingsRequest{AgentId: tlsrpt.AgentID})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]*mxv1.Finding{}
	for _, f := range fs.GetFindings() {
		codes[f.GetFinding().GetCode()] = f.GetFinding()
	}
	f := codes["TLSRPT_FAILURES"]
	if f == nil || f.GetSeverity() != mxv1.Severity_SEVERITY_WARNING || f.GetEvidence()["stale"] != "true" ||
		!strings.Contains(f.GetSummary(), "whether senders still fail to example.com is unknown. The last reports said: Example Inc. failed 3 sessions") {
		t.Fatalf("aged report finding: %v", f)
	}
	if s := codes["TLSRPT_REPORTS_STALE"]; s == nil || !strings.Contains(s.GetSummary(), "within 30 h") {
		t.Fatalf("no TLSRPT_REPORTS_STALE within 30 h: %v", codes)
	}
	// Idle rounds keep running (every 20 ms); nothing makes the silence clean.
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	if i := reportIncident(); i.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || i.GetCleanObservations() != 0 {
		t.Fatalf("silence counted as clean: %v", i)
	}
}
