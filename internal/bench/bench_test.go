package bench

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The benchmark harness itself works on the production path: a secure
// three-node cluster forms, agents with their own certificates stream and
// are acked, and memory figures are read through the authenticated API.
func TestSecureClusterHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the controller and starts three processes")
	}
	bin := filepath.Join(t.TempDir(), "controller")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mxprobe/mxprobe/cmd/controller").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx := t.Context()
	c, err := StartCluster(ctx, bin, 3, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	l, err := c.Leader(wctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.Memory(l, true)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Connect(ctx, l, 20, 1, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.conns) != 20 {
		t.Fatalf("%d connections for 20 secure agents, want one each", len(f.conns))
	}
	rate, err := f.Throughput(ctx, time.Second, 5, 4)
	if err != nil || rate <= 0 {
		t.Fatalf("throughput %v, %v", rate, err)
	}
	after, err := c.Memory(l, true)
	if err != nil {
		t.Fatal(err)
	}
	if after.Goroutines < before.Goroutines+15 || after.Stack <= before.Stack || after.RSS <= 0 {
		t.Fatalf("memory before %+v after %+v: 20 streams not visible", before, after)
	}
	// grpc-go serves each agent connection with four goroutines (reader,
	// writer, keepalive, the stream's handler); the count moves by a few
	// unrelated ones.
	if extra := after.Goroutines - before.Goroutines; extra > 4*20+10 {
		t.Fatalf("%d more goroutines for 20 agent streams, want about four each", extra)
	}
	if err := c.Profile(l, "goroutine", "debug=1", filepath.Join(t.TempDir(), "g.txt")); err != nil {
		t.Fatal(err)
	}
	// The leader going away mid-run ends the measurement with an error
	// (EOF, NotLeader, a cut stream) instead of leaving it waiting for acks.
	errc := make(chan error, 1)
	go func() { _, err := f.Throughput(ctx, time.Hour, 5, 4); errc <- err }()
	if err := c.Procs[l].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("throughput went on without its leader")
	} else {
		t.Logf("throughput without its leader: %v", err)
	}
}
