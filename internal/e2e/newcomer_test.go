package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// devController is a running `controller dev` on free ports.
type devController struct {
	proc                 *proc
	grpc, http, raftAddr string
}

func startDev(t *testing.T) devController {
	t.Helper()
	d := devController{grpc: freePort(t), http: freePort(t), raftAddr: freePort(t)}
	d.proc = start(t, "controller", "dev", "--grpc-listen", d.grpc, "--http-listen", d.http, "--raft-listen", d.raftAddr)
	waitFor(t, 60*time.Second, "the dev controller to lead", func() bool {
		code, _ := get("http://" + d.http + "/readyz")
		return code == 200
	})
	return d
}

// runEnv runs a binary with extra environment variables and returns its
// combined output and exit code.
func runEnv(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// The CLI takes host:port without a scheme; pointed at the gRPC port or at
// nothing it names the address, where it came from and what to set.
func TestCLIServerAddress(t *testing.T) {
	d := startDev(t)
	if out, code := runEnv(t, nil, "controller", "findings", "--server", d.http); code != 0 || !strings.Contains(out, "SEVERITY") {
		t.Errorf("--server %s (no scheme): exit %d\n%s", d.http, code, out)
	}
	if out, code := runEnv(t, []string{"MXPROBE_SERVER=" + d.http}, "controller", "agents"); code != 0 || !strings.Contains(out, "AGENT") {
		t.Errorf("MXPROBE_SERVER=%s: exit %d\n%s", d.http, code, out)
	}
	out, code := runEnv(t, nil, "controller", "findings", "--server", d.grpc)
	if code != 1 || !strings.Contains(out, d.grpc) || !strings.Contains(out, "gRPC port") || !strings.Contains(out, "--server") || strings.Contains(out, `\x00`) {
		t.Errorf("--server at the gRPC port: exit %d\n%s", code, out)
	}
	closed := freePort(t)
	out, code = runEnv(t, []string{"MXPROBE_SERVER=" + closed}, "controller", "findings")
	if code != 1 || !strings.Contains(out, "nothing listens on "+closed) || !strings.Contains(out, "set by MXPROBE_SERVER") {
		t.Errorf("MXPROBE_SERVER at a closed port: exit %d\n%s", code, out)
	}
	out, code = runEnv(t, []string{"MXPROBE_SERVER="}, "controller", "findings", "--server", "http://"+closed)
	if code != 1 || !strings.Contains(out, "nothing listens on "+closed) || !strings.Contains(out, "set by --server") {
		t.Errorf("--server at a closed port: exit %d\n%s", code, out)
	}
}

// transfer-leadership on a one-node cluster is a client error saying why,
// not a 500; so is naming the leader itself.
func TestTransferLeadershipOneNode(t *testing.T) {
	d := startDev(t)
	out, code := runEnv(t, nil, "controller", "cluster", "transfer-leadership", "--server", d.http)
	if code != 1 || !strings.Contains(out, "400 Bad Request") || !strings.Contains(out, "one voter") {
		t.Errorf("transfer-leadership on one node: exit %d\n%s", code, out)
	}
	status, _ := runEnv(t, nil, "controller", "cluster", "status", "--server", d.http)
	self := strings.TrimSuffix(strings.Fields(status + " x x")[1], ":")
	out, code = runEnv(t, nil, "controller", "cluster", "transfer-leadership", self, "--server", d.http)
	if code != 1 || !strings.Contains(out, "400 Bad Request") {
		t.Errorf("transfer-leadership %s (itself): exit %d\n%s", self, code, out)
	}
}

// --version says version, commit and build date (or that they are unknown)
// for every binary.
func TestVersionFlag(t *testing.T) {
	for _, bin := range []string{"controller", "agent", "mxdemo"} {
		out, code := runEnv(t, nil, bin, "--version")
		if code != 0 || !strings.HasPrefix(out, bin+" version ") || !strings.Contains(out, ", commit ") ||
			!strings.Contains(out, " go1.") || !strings.Contains(out, "built ") && !strings.Contains(out, "committed ") && !strings.Contains(out, "build date unknown") {
			t.Errorf("%s --version: exit %d: %q", bin, code, out)
		}
	}
}

// The README's agent against `controller dev`: with --insecure it streams;
// its state goes to the user's state directory, not the working directory.
// Pointed at the controller's HTTP port, it says so.
func TestReadmeAgentAgainstDev(t *testing.T) {
	d := startDev(t)
	wd, state := t.TempDir(), t.TempDir()
	agent := func(controllers string) *proc {
		p := &proc{name: "agent", done: make(chan struct{})}
		p.cmd = exec.Command(filepath.Join(binDir, "agent"), "run", "--insecure", "--agent-id", "edge01", "--site", "amsterdam",
			"--controllers", controllers, "--probe", "smtp://"+freePort(t), "--interval", "1s")
		p.cmd.Dir = wd
		p.cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "MXPROBE_STATE_DIR=")
		p.cmd.Stdout, p.cmd.Stderr = p, p
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				t.Logf("--- agent output:\n%s", p.output())
			}
		})
		return p
	}
	a := agent(d.grpc)
	waitFor(t, 60*time.Second, "the agent's results at the controller", func() bool {
		_, body := get("http://" + d.http + "/v1/agents")
		return strings.Contains(string(body), `"edge01"`)
	})
	// The README's read-back commands, as written, against this controller
	// (MXPROBE_SERVER stands for its default address).
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, l := range strings.Split(string(readme), "\n") {
		if u, ok := strings.CutPrefix(l, "curl -s http://127.0.0.1:7401/"); ok {
			if code, body := get("http://" + d.http + "/" + strings.Fields(u)[0]); code != 200 {
				t.Errorf("README %q: %d %s", l, code, body)
			}
			ran++
			continue
		}
		if !strings.HasPrefix(l, "go run ./cmd/controller ") || strings.HasPrefix(l, "go run ./cmd/controller dev") {
			continue
		}
		if i := strings.Index(l, " #"); i > 0 {
			l = l[:i]
		}
		args := strings.Fields(strings.TrimPrefix(l, "go run ./cmd/controller "))
		out, code := runEnv(t, []string{"MXPROBE_SERVER=" + d.http}, "controller", args...)
		if code != 0 {
			t.Errorf("README %q: exit %d\n%s", l, code, out)
		}
		ran++
	}
	if ran < 4 {
		t.Errorf("only %d README read-back commands found", ran)
	}
	a.stop(t)
	if ents, _ := os.ReadDir(wd); len(ents) != 0 {
		t.Errorf("agent run left %d entries in its working directory (%s)", len(ents), ents[0].Name())
	}
	if _, err := os.Stat(filepath.Join(state, "mxprobe-agent", "spool")); err != nil {
		t.Errorf("no spool in $XDG_STATE_HOME/mxprobe-agent: %v", err)
	}

	wrong := agent(d.http)
	waitFor(t, 60*time.Second, "the agent to say it was given the HTTP port", func() bool {
		return strings.Contains(wrong.output(), "this is the controller's HTTP port; agents use the gRPC port (default 7400)")
	})
	if strings.Count(wrong.output(), "frame too large") > 1 {
		t.Errorf("the agent still loops on the transport error:\n%s", wrong.output())
	}
}

// A password-protected PFX in a pemdir store: without its password the
// finding names the setting to use; with it (pfx_password_file, or
// MXPROBE_PFX_PASSWORD) the certificate is read; the password never appears
// in the output, logs included.
func TestPFXPasswordSetting(t *testing.T) {
	const secret = "Corr3ct-horse-battery"
	ca, err := lab.NewCA("e2e PFX CA")
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.test"})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(is.Key, is.Cert, nil, secret)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(store, "mail.pfx"), pfx)
	pwFile := writeFile(t, filepath.Join(dir, "pfx-passwords"), []byte("wrong-one\r\n"+secret+"\n"))
	base := []string{"check", "--cert-store", "pemdir:" + store, "--log-level", "debug", "--certificates"}

	out, _ := runEnv(t, []string{"MXPROBE_PFX_PASSWORD="}, "agent", base...)
	if !strings.Contains(out, "CERT_ENTRY_UNREADABLE") || !strings.Contains(out, "pfx_password_file") {
		t.Errorf("without the password: want CERT_ENTRY_UNREADABLE naming pfx_password_file:\n%s", out)
	}
	for name, env := range map[string][]string{
		"--pfx-password-file":       {"MXPROBE_PFX_PASSWORD="},
		"MXPROBE_PFX_PASSWORD_FILE": {"MXPROBE_PFX_PASSWORD=", "MXPROBE_PFX_PASSWORD_FILE=" + pwFile},
		"MXPROBE_PFX_PASSWORD":      {"MXPROBE_PFX_PASSWORD=" + secret},
	} {
		args := base
		if name == "--pfx-password-file" {
			args = append(args, "--pfx-password-file", pwFile)
		}
		out, _ := runEnv(t, env, "agent", args...)
		if strings.Contains(out, "CERT_ENTRY_UNREADABLE") || !strings.Contains(out, "mail.contoso.test") {
			t.Errorf("%s: the PFX was not read:\n%s", name, out)
		}
		if strings.Contains(out, secret) || strings.Contains(out, "wrong-one") {
			t.Errorf("%s: a password appears in the output:\n%s", name, out)
		}
	}
	out, code := runEnv(t, nil, "agent", append(base, "--pfx-password-file", filepath.Join(dir, "missing"))...)
	if code != 1 || !strings.Contains(out, "pfx_password_file") {
		t.Errorf("missing password file: exit %d\n%s", code, out)
	}
}

// Each command's --help shows its own flags: agent check none of agent run's
// streaming settings, controller dev none of the settings it decides itself
// and its real (loopback) defaults.
func TestHelpShowsOwnFlags(t *testing.T) {
	for _, c := range []struct {
		bin       string
		args      []string
		want, not []string
	}{
		{"agent", []string{"check", "--help"}, []string{"--cert-store", "--probe", "--pfx-password-file"},
			[]string{"--controllers", "--state-dir", "--insecure", "--ack-timeout", "--spool-max-bytes", "--controller-ca-file", "--interval"}},
		{"agent", []string{"run", "--help"}, []string{"--controllers", "--state-dir", "--cert-store"}, nil},
		{"agent", []string{"status", "--help"}, []string{"--state-dir"}, []string{"--probe", "--controllers"}},
		{"controller", []string{"dev", "--help"}, []string{`--grpc-listen string`, `(default "127.0.0.1:7400")`, `(default "127.0.0.1:7401")`},
			[]string{"--data-dir", "--bootstrap", "--insecure", "--tls-cert-file", "--agent-ca-cert-file", "--retry-join"}},
		{"controller", []string{"run", "--help"}, []string{"--data-dir", "--bootstrap", "--tls-cert-file"}, nil},
	} {
		out, code := runEnv(t, nil, c.bin, c.args...)
		if code != 0 {
			t.Errorf("%s %v: exit %d\n%s", c.bin, c.args, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %v lacks %q", c.bin, c.args, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n+" ") {
				t.Errorf("%s %v lists %s, which it does not use", c.bin, c.args, n)
			}
		}
	}
}

// A store given without a scheme says the scheme is missing and lists them,
// whether or not the path exists.
func TestCertStoreWithoutScheme(t *testing.T) {
	for _, p := range []string{t.TempDir(), "/srv/certs-that-do-not-exist"} {
		out, _ := runEnv(t, nil, "agent", "check", "--cert-store", p)
		if !strings.Contains(out, "has no scheme") || !strings.Contains(out, "pemdir:") || !strings.Contains(out, "windows:") || strings.Contains(out, "check that") {
			t.Errorf("--cert-store %s:\n%s", p, out)
		}
	}
}

// A controller address already taken fails with the address and the flag
// (and env and key) that moves it.
func TestControllerPortInUse(t *testing.T) {
	d := startDev(t)
	for flag, addr := range map[string]string{"grpc-listen": d.grpc, "http-listen": d.http, "raft-listen": d.raftAddr} {
		args := map[string]string{"grpc-listen": freePort(t), "http-listen": freePort(t), "raft-listen": freePort(t)}
		args[flag] = addr
		out, code := runEnv(t, nil, "controller", "dev", "--grpc-listen", args["grpc-listen"], "--http-listen", args["http-listen"], "--raft-listen", args["raft-listen"])
		if code != 1 || !strings.Contains(out, addr+" is in use") || !strings.Contains(out, "--"+flag) {
			t.Errorf("--%s %s taken: exit %d\n%s", flag, addr, code, out)
		}
	}
}
