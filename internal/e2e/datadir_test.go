package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondControllerOnSameDataDir: a second controller process started on
// a data directory a running one holds exits 1 within seconds, naming the
// directory and the holder's pid (it used to wait on BoltDB's lock forever),
// and one told to wait longer still honours SIGTERM and SIGINT while it waits.
func TestSecondControllerOnSameDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	nodeArgs := func(httpAddr string) []string {
		return []string{"run", "--insecure", "--bootstrap", "--node-id", "c1", "--data-dir", dir,
			"--grpc-listen", freePort(t), "--http-listen", httpAddr, "--raft-listen", freePort(t)}
	}
	httpA := freePort(t)
	a := start(t, "controller", nodeArgs(httpA)...)
	waitFor(t, 60*time.Second, "the first controller ready", func() bool {
		code, _ := get("http://" + httpA + "/readyz")
		return code == 200
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "controller"), nodeArgs(freePort(t))...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second controller: %v (want exit status 1)\n%s", err, out)
	}
	want := fmt.Sprintf("data directory %s is in use by another controller (pid %d)", dir, a.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Fatalf("second controller's output lacks %q:\n%s", want, out)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		b := start(t, "controller", append(nodeArgs(freePort(t)), "--data-dir-lock-timeout", "10m")...)
		waitFor(t, 60*time.Second, "the waiting controller to reach the lock", func() bool {
			return strings.Contains(b.output(), "taking the data directory lock")
		})
		_ = b.cmd.Process.Signal(sig)
		select {
		case <-b.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("a controller waiting for the data directory ignored %v", sig)
		}
		if code := b.cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("after %v while waiting: exit %d, want 1\n%s", sig, code, b.output())
		}
	}
	// The first one never noticed.
	if code, _ := get("http://" + httpA + "/readyz"); code != 200 {
		t.Fatalf("first controller no longer ready: %d", code)
	}
}
