package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// cli runs `controller ARGS...` to completion and returns its output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "controller"), args...).CombinedOutput()
	return string(out), err
}

// TestIncidentsCLI: a real controller and a real agent probing a lab SMTP
// server whose certificate expired; the correlation loop turns the finding
// into an incident, and `controller incidents list|show|ack|resolve` work
// against the running process (REST through the real binary).
func TestIncidentsCLI(t *testing.T) {
	ca, err := lab.NewCA("e2e lab CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lab.Start(t.Context(), lab.Expired, lab.ServerOptions{Hostname: "mx.partner.test", CA: ca})
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
	start(t, "controller", "run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr, "--plan-interval", "1s", "--plan-jitter", "100ms",
		"--correlation-open-after-observations", "2", "--correlation-interval", "100ms")
	start(t, "agent", "run", "--insecure", "--agent-id", "edge01", "--site", "amsterdam", "--hostname", "edge01.contoso.test",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent"),
		"--probe", "smtp://"+srv.Addr(), "--expect-name", "mx.partner.test", "--ca-file", caFile)
	server := "--server=http://" + httpAddr

	idRe := regexp.MustCompile(`(?m)^(inc-[0-9a-f]{16}-1)\s+OPEN\s+CRITICAL\s+REMOTE_TARGET`)
	var id string
	waitFor(t, 60*time.Second, "an OPEN incident in `controller incidents list`", func() bool {
		out, err := cli(t, "incidents", "list", server)
		if err != nil {
			return false
		}
		if m := idRe.FindStringSubmatch(out); m != nil {
			id = m[1]
			return true
		}
		return false
	})
	out, err := cli(t, "incidents", "show", id, server)
	if err != nil {
		t.Fatalf("show: %v\n%s", err, out)
	}
	for _, want := range []string{"CERT_EXPIRED", srv.Certificate().Thumbprint(), "edge01", "opened by mxprobe", "fix:"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if out, err := cli(t, "incidents", "ack", id, server, "--actor", "alice", "--comment", "calling the partner"); err != nil || !strings.Contains(out, "ACKNOWLEDGED") {
		t.Fatalf("ack: %v\n%s", err, out)
	}
	if out, err := cli(t, "incidents", "list", server, "--state", "ACKNOWLEDGED", "--json"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list --state ACKNOWLEDGED: %v\n%s", err, out)
	}
	if out, err := cli(t, "incidents", "ack", id, server, "--actor", "alice"); err == nil {
		t.Fatalf("second ack accepted:\n%s", out)
	}
	if out, err := cli(t, "incidents", "resolve", id, server, "--actor", "bob", "--comment", "partner renewed"); err != nil || !strings.Contains(out, "RESOLVED") {
		t.Fatalf("resolve: %v\n%s", err, out)
	}
	out, err = cli(t, "incidents", "show", id, server)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acknowledged by alice: calling the partner", "resolved by bob: partner renewed"} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}
	if out, err := cli(t, "incidents", "list", server, "--filter", `bogus = "x"`); err == nil || !strings.Contains(out, "unknown field") {
		t.Fatalf("bad filter: %v\n%s", err, out)
	}
	// Ticket numbers from the CLI (the retry with the same key is answered, and records nothing new).
	for range 2 {
		if out, err := cli(t, "incidents", "refs", id, "servicenow=INC0012345", "jira=OPS-42", server, "--actor", "carol", "--idempotency-key", "refs-1"); err != nil ||
			!strings.Contains(out, "jira=OPS-42 servicenow=INC0012345") {
			t.Fatalf("refs: %v\n%s", err, out)
		}
	}
	if out, err := cli(t, "incidents", "show", id, server); err != nil || strings.Count(out, "external_refs") != 1 {
		t.Fatalf("refs timeline (want one entry): %v\n%s", err, out)
	}
	if out, err := cli(t, "incidents", "refs", id, "jira", server); err == nil {
		t.Fatalf("refs without =: accepted\n%s", out)
	}
	// What the agent sees now and since when.
	resRe := regexp.MustCompile(`(?m)^edge01\s+amsterdam\s+smtp_probe\s+smtp://\S+\s+FAIL\s+20\d\d-\S+\s+\S*CERT_EXPIRED`)
	if out, err := cli(t, "results", server, "--failing", "--agent-id", "edge01"); err != nil || !resRe.MatchString(out) {
		t.Fatalf("results --failing: %v\n%s", err, out)
	}

	// The certificate inventory lists a store's certificates without findings
	// too (the seed store's good certificate), and what servers presented.
	seed, err := lab.WriteSeedStore(filepath.Join(dir, "edge02-store"), ca, "edge02.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	start(t, "agent", "run", "--insecure", "--agent-id", "edge02", "--site", "amsterdam", "--hostname", "edge02.contoso.test",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent2"), "--cert-store", "pemdir:"+seed.Dir)
	var inventory string
	waitFor(t, 120*time.Second, "the seed store's certificates in `controller certificates --csv`", func() bool {
		out, err := cli(t, "certificates", server, "--csv")
		inventory = out
		return err == nil && strings.Contains(out, seed.Good.Thumbprint) && strings.Contains(out, seed.KeylessDuplicate.Thumbprint)
	})
	for _, line := range strings.Split(inventory, "\n") {
		switch {
		case strings.Contains(line, seed.Good.Thumbprint):
			if !strings.Contains(line, ",ok,,edge02.contoso.test") {
				t.Errorf("good certificate (no finding, key present): %s", line)
			}
		case strings.Contains(line, seed.KeylessDuplicate.Thumbprint):
			if !strings.Contains(line, "MISSING") || !strings.Contains(line, "CERT_NO_PRIVATE_KEY") {
				t.Errorf("keyless duplicate: %s", line)
			}
		case strings.Contains(line, srv.Certificate().Thumbprint()):
			if !strings.Contains(line, "(presented)") {
				t.Errorf("presented certificate: %s", line)
			}
		}
	}
	if !strings.Contains(inventory, srv.Certificate().Thumbprint()) {
		t.Errorf("the probed server's certificate is not in the inventory:\n%s", inventory)
	}
	// Later rounds leave the unchanged listing out; the controller keeps it.
	seqRe := regexp.MustCompile(`(?m)^edge02\s.*\s(\d+)\s*$`)
	waitFor(t, 120*time.Second, "edge02 to commit three more rounds", func() bool {
		out, err := cli(t, "agents", server)
		m := seqRe.FindStringSubmatch(out)
		if err != nil || m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 4
	})
	if out, err := cli(t, "certificates", server, "--csv", "--host", "edge02.contoso.test"); err != nil || !strings.Contains(out, seed.Good.Thumbprint) {
		t.Fatalf("listing lost after unchanged rounds: %v\n%s", err, out)
	}
	// Certificate lifetimes in days: 30d keeps the expired certificate the
	// server presented and drops the good one (valid for months); a number
	// without a unit is refused instead of read as nanoseconds.
	if out, err := cli(t, "certificates", server, "--csv", "--expiring-within", "30d"); err != nil ||
		!strings.Contains(out, srv.Certificate().Thumbprint()) || strings.Contains(out, seed.Good.Thumbprint) {
		t.Fatalf("--expiring-within 30d: %v\n%s", err, out)
	}
	if out, err := cli(t, "certificates", server, "--expiring-within", "30"); err == nil || !strings.Contains(out, "no unit") || !strings.Contains(out, "30d") {
		t.Fatalf("--expiring-within 30 (no unit): %v\n%s", err, out)
	}
}
