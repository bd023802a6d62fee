package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wineEnv prepares (or reuses) the project's scratch Wine prefix through
// scripts/wine/prepare.sh and returns its environment; the test is skipped
// where Wine cannot be had (not root, no apt), as scripts/wine says.
func wineEnv(t *testing.T) map[string]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(root, "scripts/wine/prepare.sh")).Output()
	if err != nil {
		t.Skipf("no Wine prefix (scripts/wine/prepare.sh: %v)", err)
	}
	f, err := os.Open(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}

// TestWindowsServiceLifecycleUnderWine installs the Windows agent as a
// service in Wine's Service Control Manager, starts it, sees it write its
// log and stream to a real (Linux) controller on loopback, stops it within
// the stop command's deadline, and uninstalls it.
func TestWindowsServiceLifecycleUnderWine(t *testing.T) {
	env := wineEnv(t)
	exe := filepath.Join(binDir, "agent.exe")
	b := exec.Command("go", "build", "-o", exe, "github.com/mxprobe/mxprobe/cmd/agent")
	b.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("building agent.exe: %v\n%s", err, out)
	}
	var wineEnviron []string
	for k, v := range env {
		wineEnviron = append(wineEnviron, k+"="+v)
	}
	wine := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, env["MXPROBE_WINE"], append([]string{exe}, args...)...)
		c.Env = append(os.Environ(), wineEnviron...)
		c.Dir = t.TempDir()
		// Output to a file, not a pipe: the Wine processes a command boots
		// (services.exe, the service) inherit it and would hold a pipe open.
		f, err := os.CreateTemp(c.Dir, "out-*")
		if err != nil {
			return "", err
		}
		defer f.Close()
		c.Stdout, c.Stderr = f, f
		err = c.Run()
		out, _ := os.ReadFile(f.Name())
		return string(out), err
	}
	// Wine ends its services (services.exe and what it started) when the
	// last other Wine process of the prefix exits, i.e. right after each
	// `agent service ...` command: a persistent wineserver keeps the prefix
	// up, as a running Windows keeps its SCM.
	server := func(args ...string) {
		c := exec.Command(env["MXPROBE_WINESERVER"], args...)
		c.Env = append(os.Environ(), wineEnviron...)
		_ = c.Run()
	}
	server("-k")
	server("-p")
	prefixData := filepath.Join(env["WINEPREFIX"], "drive_c", "ProgramData", "mxprobe")
	// A service left by an earlier, interrupted run would start with the
	// prefix (Start=auto) and its old configuration: remove both first.
	_, _ = wine("service", "uninstall")
	if err := os.RemoveAll(prefixData); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = wine("service", "uninstall")
		server("-k") // ends the persistent wineserver and the Wine processes this test started
	})

	dir := t.TempDir()
	grpcAddr, httpAddr, raftAddr := freePort(t), freePort(t), freePort(t)
	start(t, "controller", "run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr, "--plan-interval", "1s", "--plan-jitter", "100ms")

	out, err := wine("service", "install", "--insecure", "--controllers", grpcAddr, "--site", "wine-lab", "--delayed-start=false")
	if err != nil || !strings.Contains(out, "installed mxprobe-agent") {
		t.Fatalf("install: %v\n%s", err, out)
	}
	// Wine 8's SCM refuses ChangeServiceConfig2 levels 4 and 5: warnings, not failures.
	if !strings.Contains(out, "warning: this Service Control Manager does not support") {
		t.Logf("install printed no degrade warning (an SCM that supports every level):\n%s", out)
	}
	if out, err := wine("service", "start"); err != nil || !strings.Contains(out, "mxprobe-agent") {
		t.Fatalf("start: %v\n%s", err, out)
	}
	logFile := filepath.Join(prefixData, "logs", "agent.log")
	waitFor(t, 2*time.Minute, "the service's agent.log and its first committed batch at the controller", func() bool {
		b, _ := os.ReadFile(logFile)
		if !strings.Contains(string(b), `msg="agent starting"`) || !strings.Contains(string(b), "site=wine-lab") {
			return false
		}
		code, body := get("http://" + httpAddr + "/v1/agents")
		var ab struct {
			Agents []struct {
				Site             string `json:"site"`
				BatchesCommitted uint64 `json:"batchesCommitted,string"`
			} `json:"agents"`
		}
		if code != 200 || json.Unmarshal(body, &ab) != nil {
			return false
		}
		for _, a := range ab.Agents {
			if a.Site == "wine-lab" && a.BatchesCommitted > 0 {
				return true
			}
		}
		return false
	})
	// `service stop` sends Stop and waits (up to 60 s) for Stopped; an error
	// is a service that missed its deadline.
	if out, err := wine("service", "stop"); err != nil || !strings.Contains(out, "stopped mxprobe-agent") {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("stop: %v\n%s\nagent.log:\n%s", err, out, b)
	}
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), `msg="agent stopped"`) {
		t.Errorf("agent.log has no clean stop:\n%s", b)
	}
	if out, err := wine("service", "uninstall"); err != nil || !strings.Contains(out, "removed mxprobe-agent") {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if out, _ := wine("service", "start"); !strings.Contains(out, "not installed") {
		t.Errorf("start after uninstall: %s", out)
	}
}
