package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/lab"
)

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSecureDeploymentWithCLI runs the production path with the real
// binaries: a controller with cluster TLS, an agent CA and a bootstrap
// token; an operator creates a join token with the CLI; the agent enrolls
// (its key stays in its state dir) and streams over mTLS; findings are read
// over HTTPS with a token, and refused without one.
func TestSecureDeploymentWithCLI(t *testing.T) {
	dir := t.TempDir()
	clusterCA, err := lab.NewCA("e2e cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, err := clusterCA.Issue(lab.IssueOptions{CommonName: "c1", DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ServerAuth: true, ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, _ := nodeCert.KeyPEM()
	agentCA, err := pki.Generate("e2e agent CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := pkcs8PEM(agentCA)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, filepath.Join(dir, "cluster-ca.pem"), clusterCA.CertPEM())
	ctlArgs := []string{"run", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--tls-cert-file", writeFile(t, filepath.Join(dir, "node.pem"), nodeCert.CertPEM()),
		"--tls-key-file", writeFile(t, filepath.Join(dir, "node.key"), nodeKey),
		"--tls-ca-file", caFile,
		"--agent-ca-cert-file", writeFile(t, filepath.Join(dir, "agent-ca.pem"), agentCA.CertPEM()),
		"--agent-ca-key-file", writeFile(t, filepath.Join(dir, "agent-ca.key"), agentKey),
		"--plan-interval", "1s", "--plan-jitter", "100ms"}
	grpcAddr, httpAddr, raftAddr := freePort(t), freePort(t), freePort(t)
	ctlArgs = append(ctlArgs, "--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr)
	const boot = "e2e-bootstrap-token-0123456789abcdef"
	ctl := startEnv(t, []string{"MXPROBE_AUTH_BOOTSTRAP_TOKEN=" + boot}, "controller", ctlArgs...)
	_ = ctl
	server := "https://" + httpAddr
	client := []string{"--server", server, "--controller-ca-file", caFile}

	var joinSecret string
	waitFor(t, 30*time.Second, "controller tokens create", func() bool {
		out, err := run(t, []string{"MXPROBE_TOKEN=" + boot}, "controller", append([]string{"tokens", "create", "ams-edges", "--kind", "join", "--site", "amsterdam"}, client...)...)
		if err != nil {
			return false
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		joinSecret = lines[len(lines)-1]
		return strings.HasPrefix(joinSecret, "mxp_")
	})

	labCA, _ := lab.NewCA("e2e lab CA")
	srv, err := lab.Start(t.Context(), lab.Expired, lab.ServerOptions{Hostname: "edge01.contoso.test", CA: labCA})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stateDir := filepath.Join(dir, "agent")
	agentCommon := []string{"--agent-id", "edge01", "--controllers", grpcAddr, "--controller-ca-file", caFile, "--state-dir", stateDir}
	if out, err := run(t, nil, "agent", append([]string{"enroll", "--token", joinSecret}, agentCommon...)...); err != nil || !strings.Contains(out, "enrolled edge01 in site amsterdam") {
		t.Fatalf("agent enroll: %v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(stateDir, "agent.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent key: %v %v", st, err)
	}
	// A second agent cannot reuse the single-use join token.
	if out, err := run(t, nil, "agent", "enroll", "--token", joinSecret, "--agent-id", "edge02", "--controllers", grpcAddr, "--controller-ca-file", caFile, "--state-dir", filepath.Join(dir, "agent2")); err == nil {
		t.Fatalf("reused join token accepted:\n%s", out)
	}
	labCAFile := writeFile(t, filepath.Join(dir, "lab-ca.pem"), labCA.CertPEM())
	// The configured site (london) is overridden by the certificate's (amsterdam).
	start(t, "agent", append([]string{"run", "--site", "london", "--probe", "smtp://" + srv.Addr(), "--expect-name", "edge01.contoso.test", "--ca-file", labCAFile}, agentCommon...)...)

	waitFor(t, 60*time.Second, "CERT_EXPIRED from edge01 (site from its certificate) over HTTPS with a token", func() bool {
		out, err := run(t, []string{"MXPROBE_TOKEN=" + boot}, "controller", append([]string{"findings", "--code", "CERT_EXPIRED"}, client...)...)
		return err == nil && strings.Contains(out, "amsterdam") && strings.Contains(out, "edge01")
	})
	if out, err := run(t, nil, "controller", append([]string{"findings"}, client...)...); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("findings without a token: %v\n%s", err, out)
	}

	// Unattended: agent run enrolls by itself with MXPROBE_JOIN_TOKEN (a
	// container's first start), then streams; a refused token stops it.
	out, err := run(t, []string{"MXPROBE_TOKEN=" + boot}, "controller", append([]string{"tokens", "create", "ams-edge02", "--kind", "join", "--site", "amsterdam"}, client...)...)
	if err != nil {
		t.Fatalf("join token for edge02: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	edge02 := []string{"run", "--agent-id", "edge02", "--controllers", grpcAddr, "--controller-ca-file", caFile,
		"--probe", "smtp://" + srv.Addr(), "--expect-name", "edge01.contoso.test", "--ca-file", labCAFile}
	if out, err := run(t, []string{"MXPROBE_JOIN_TOKEN=mxp_not-a-token"}, "agent", append(edge02, "--state-dir", filepath.Join(dir, "agent-bad"))...); err == nil || !strings.Contains(out, "enrolling with MXPROBE_JOIN_TOKEN") || strings.Contains(out, "mxp_not-a-token") {
		t.Fatalf("agent run with a refused join token: %v (want an exit naming the variable, never the token)\n%s", err, out)
	}
	startEnv(t, []string{"MXPROBE_JOIN_TOKEN=" + lines[len(lines)-1]}, "agent", append(edge02, "--state-dir", filepath.Join(dir, "agent2"))...)
	waitFor(t, 60*time.Second, "edge02 enrolled by agent run and streaming", func() bool {
		out, err := run(t, []string{"MXPROBE_TOKEN=" + boot}, "controller", append([]string{"findings", "--code", "CERT_EXPIRED"}, client...)...)
		return err == nil && strings.Contains(out, "edge02")
	})
}

func startEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, p.output())
		}
	})
	return p
}
