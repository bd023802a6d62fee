package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

type findingsBody struct {
	Findings []struct {
		AgentID string `json:"agentId"`
		Site    string `json:"site"`
		Target  string `json:"target"`
		Finding struct {
			Code     string            `json:"code"`
			Severity string            `json:"severity"`
			Subject  string            `json:"subject"`
			Evidence map[string]string `json:"evidence"`
		} `json:"finding"`
	} `json:"findings"`
}

// TestAgentToControllerAndRestart: a real controller process (raft on disk)
// and a real agent process; the agent probes a lab SMTP server over real
// TLS whose certificate expired; the finding is read back through REST,
// and again after the controller restarts with the agent gone.
func TestAgentToControllerAndRestart(t *testing.T) {
	ca, err := lab.NewCA("e2e lab CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lab.Start(t.Context(), lab.Expired, lab.ServerOptions{Hostname: "edge01.contoso.test", CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	grpcAddr, httpAddr, raftAddr := freePort(t), freePort(t), freePort(t)
	ctlArgs := []string{"run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr, "--plan-interval", "1s", "--plan-jitter", "100ms"}
	ctl := start(t, "controller", ctlArgs...)
	agent := start(t, "agent", "run", "--insecure", "--agent-id", "edge01", "--site", "amsterdam", "--hostname", "edge01.contoso.test",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent"),
		"--probe", "smtp://"+srv.Addr(), "--expect-name", "edge01.contoso.test", "--ca-file", caFile)

	url := "http://" + httpAddr + "/v1/findings?code=CERT_EXPIRED"
	waitFor(t, 60*time.Second, "CERT_EXPIRED through the REST API", func() bool {
		code, body := get(url)
		var fb findingsBody
		if code != 200 || json.Unmarshal(body, &fb) != nil || len(fb.Findings) == 0 {
			return false
		}
		f := fb.Findings[0]
		if f.AgentID != "edge01" || f.Site != "amsterdam" || f.Finding.Evidence["origin"] != "presented" || f.Finding.Subject != srv.Certificate().Thumbprint() {
			t.Fatalf("unexpected finding %+v", f)
		}
		return true
	})
	agent.stop(t)
	// What the restart must keep: the findings once the agent has stopped.
	// The one read above can be older: the agent probes every second and
	// a later batch (committed before it stopped) changes the body.
	code, before := get(url)
	if code != 200 {
		t.Fatalf("findings after the agent stopped: %d %s", code, before)
	}
	ctl.stop(t)

	ctl2 := start(t, "controller", ctlArgs...)
	_ = ctl2
	waitFor(t, 90*time.Second, "the same finding after a controller restart", func() bool {
		code, body := get(url)
		return code == 200 && string(body) == string(before)
	})

	// Backup from this cluster, restore into a brand-new one: same findings.
	backupFile := filepath.Join(dir, "backup.pb")
	if out, err := run(t, nil, "controller", "backup", "--server", "http://"+httpAddr, "--out", backupFile); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	g2, h2, r2 := freePort(t), freePort(t), freePort(t)
	start(t, "controller", "run", "--insecure", "--node-id", "fresh", "--data-dir", filepath.Join(dir, "fresh"), "--bootstrap",
		"--grpc-listen", g2, "--http-listen", h2, "--raft-listen", r2)
	waitFor(t, 30*time.Second, "restore into a fresh cluster", func() bool {
		_, err := run(t, nil, "controller", "restore", backupFile, "--server", "http://"+h2)
		return err == nil
	})
	code, body := get("http://" + h2 + "/v1/findings?code=CERT_EXPIRED")
	if code != 200 || string(body) != string(before) {
		t.Fatalf("restored cluster answers %d %s, want %s", code, body, before)
	}
}
