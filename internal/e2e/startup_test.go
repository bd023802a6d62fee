package e2e

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Signals are honoured in every phase of start-up that can wait: the data
// directory lock (TestSecondControllerOnSameDataDir), and cluster formation,
// where a node waits for the peers bootstrap_expect names or for a cluster
// to join through retry_join that never answers. SIGTERM and SIGINT end it
// cleanly (exit 0) instead of leaving an operator to kill -9 it.
func TestSignalsWhileFormingACluster(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra []string
	}{
		{"bootstrap_expect 3, peers absent", []string{"--bootstrap-expect", "3"}},
		{"retry_join, no cluster answers", nil},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(c.name+"/"+sig.String(), func(t *testing.T) {
				args := append([]string{"run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(t.TempDir(), "data"),
					"--retry-join", freePort(t), // nothing listens there
					"--grpc-listen", freePort(t), "--http-listen", freePort(t), "--raft-listen", freePort(t)}, c.extra...)
				p := start(t, "controller", args...)
				waitFor(t, 60*time.Second, "the controller to be waiting for its cluster", func() bool {
					return strings.Contains(p.output(), "cluster formation: not yet")
				})
				_ = p.cmd.Process.Signal(sig)
				select {
				case <-p.done:
				case <-time.After(60 * time.Second): // a hang guard, not a timing assertion
					t.Fatalf("a controller waiting for its cluster ignored %v", sig)
				}
				if code := p.cmd.ProcessState.ExitCode(); code != 0 {
					t.Fatalf("after %v while forming: exit %d, want 0\n%s", sig, code, p.output())
				}
			})
		}
	}
}
