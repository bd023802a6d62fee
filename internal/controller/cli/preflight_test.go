package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
)

// startNode runs a one-node insecure controller and returns it.
func startNode(t *testing.T) *node.Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: freeAddr(t),
		Plan: ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(30 * time.Second); !n.Store().LeaderReady(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node never led")
		}
	}
	return n
}

// controller preflight against a real controller holding two hybrid Edge
// servers' reports (amsterdam, berlin): the PFX is opened here with
// MXPROBE_PFX_PASSWORD and only its certificates are sent (the API
// refuses keys, so a key sent would fail the call); a certificate from
// another CA on one site breaks the hybrid rule (exit 2, table and JSON);
// a same-identity renewal does not (exit 0); a .cer needs the statement
// where the key will be; a wrong password or a key of another certificate
// is an error (exit 1) that does not print the password.
func TestPreflightCommand(t *testing.T) {
	n := startNode(t)
	p := renewaltest.NewPKI(t, time.Now(), time.Now().AddDate(0, 0, 20))
	for i, e := range [][3]string{{"edge01", "amsterdam", "EDGE01"}, {"edge02", "berlin", "EDGE02"}} {
		h, r := renewaltest.Edge(t, e[0], e[1], e[2], p.Old)
		if _, err := n.Store().Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: h}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Store().Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{
			{AgentId: e[0], Batch: &mxv1.ResultBatch{Seq: uint64(i + 1), Results: []*mxv1.CheckResult{r}}}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	const secret = "Pfx-s3cret-pw"
	t.Setenv(pfxPasswordEnv, secret)
	other := renewaltest.Issue(t, p.Fabrikam, time.Now(), time.Now().AddDate(1, 0, 0))
	same := renewaltest.Issue(t, p.Contoso, time.Now(), time.Now().AddDate(1, 0, 0))
	otherPFX := write("mail-2026.pfx", renewaltest.PFX(t, other, secret))
	samePFX := write("same.pfx", renewaltest.PFX(t, same, secret))
	sameCER := write("same.cer", same.Cert.Raw)
	server := "http://" + n.HTTPAddr()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(t.Context(), append([]string{"preflight", "--server", server}, args...), &out, &errb)
		s := out.String() + errb.String()
		if strings.Contains(s, secret) {
			t.Errorf("the output shows the PFX password: %s", s)
		}
		return code, s
	}

	code, out := run("--new-cert", otherPFX, "--site", "amsterdam", "--plan")
	if code != 2 || !strings.Contains(out, "Verdict: BREAKS: on edge01; fleet check hybrid-edge-identity fails") ||
		!strings.Contains(out, "key in mail-2026.pfx, matches the certificate (read here, not sent to the controller)") ||
		!strings.Contains(out, "[FAIL] hybrid-edge-identity") || !strings.Contains(out, "import the new certificate on edge02.contoso.com too") ||
		!strings.Contains(out, "Renewal plan for edge01.contoso.com") || !strings.Contains(out, `mail-2026.pfx')) -Password`) ||
		!strings.Contains(out, "not-imported") || strings.Contains(out, "\tedge02\t") {
		t.Fatalf("another CA on amsterdam: %d\n%s", code, out)
	}
	code, out = run("--new-cert", otherPFX, "--format", "json")
	var resp struct {
		Breaks bool
		Agents []struct {
			AgentID string `json:"agentId"`
		}
	}
	if code != 2 || json.Unmarshal([]byte(out), &resp) != nil || !resp.Breaks || len(resp.Agents) != 2 {
		t.Fatalf("json: %d %s", code, out)
	}
	if code, out = run("--new-cert", samePFX); code != 0 || !strings.Contains(out, "Verdict: nothing breaks on the 2 agents") {
		t.Fatalf("same identity: %d\n%s", code, out)
	}
	if code, out = run("--new-cert", sameCER); code != 1 || !strings.Contains(out, "--key-source") {
		t.Fatalf(".cer without a statement: %d %s", code, out)
	}
	if code, out = run("--new-cert", sameCER, "--key-source", "request"); code != 0 || !strings.Contains(out, "stated: the pending request") {
		t.Fatalf(".cer completing a request: %d %s", code, out)
	}
	if code, out = run("--new-cert", sameCER, "--key-source", "none"); code != 2 || !strings.Contains(out, "private-key") {
		t.Fatalf(".cer without key: %d %s", code, out)
	}
	key, _ := other.KeyPEM()
	if code, out = run("--new-cert", write("mixed.pem", append(same.ChainPEM(), key...))); code != 1 || !strings.Contains(out, "cannot be used: the private key stored with this certificate") || !strings.Contains(out, "does not match its public key") {
		t.Fatalf("key of another certificate: %d %s", code, out)
	}
	t.Setenv(pfxPasswordEnv, "wrong")
	if code, out = run("--new-cert", otherPFX); code != 1 || !strings.Contains(out, "no password given opens it") {
		t.Fatalf("wrong password: %d %s", code, out)
	}
	pwFile := write("pw.txt", []byte("first\r\n"+secret+"\n"))
	if code, out = run("--new-cert", otherPFX, "--pfx-password-file", pwFile); code != 2 {
		t.Fatalf("password from the file: %d %s", code, out)
	}
}
