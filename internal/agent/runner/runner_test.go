package runner

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/portalloc"

	"google.golang.org/grpc"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ports never hands out the same port twice in this test binary.
var ports portalloc.Allocator

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := ports.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// countingCheck reports one finding whose subject is the round number.
type countingCheck struct{ n atomic.Int64 }

func (c *countingCheck) Name() string   { return "counter" }
func (c *countingCheck) Target() string { return "local" }
func (c *countingCheck) Run(context.Context) ([]*mxv1.Finding, error) {
	return []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: time.Now().String()}}, nil
}

func startController(t *testing.T, grpcAddr string) (*node.Node, context.CancelFunc, chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{
		NodeID: "c1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true, GRPCListen: grpcAddr, HTTPListen: "127.0.0.1:0", RaftListen: freePort(t),
		Plan: ingest.Plan{Interval: 50 * time.Millisecond}, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	return n, cancel, done
}

// The agent starts while no controller listens: rounds pile up in the
// outbox, and once the controller comes up every one is delivered, in order,
// exactly once.
func TestBatchesMadeWhileControllerDownAreDelivered(t *testing.T) {
	grpcAddr := freePort(t)
	r, err := New(Config{
		Hello:       &mxv1.Hello{AgentId: "edge01", Site: "ams"},
		Controllers: []string{grpcAddr},
		StateDir:    t.TempDir(),
		Checks:      []checks.Check{&countingCheck{}},
		Interval:    50 * time.Millisecond,
		Logger:      quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.client = mustClient(t, r, 20*time.Millisecond, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for r.outbox.LastSeq() < 5 {
		time.Sleep(20 * time.Millisecond)
	}
	if r.Acked() != 0 {
		t.Fatal("acked without a controller")
	}
	n, stop, stopped := startController(t, grpcAddr)
	defer func() { stop(); <-stopped }()
	deadline := time.Now().Add(20 * time.Second)
	for r.Acked() < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r.Acked() < 5 {
		t.Fatalf("acked %d of at least 5 batches", r.Acked())
	}
	a := n.Store().State().Agent("edge01")
	if a.GetLastSeq() < 5 {
		t.Fatalf("controller committed seq %d", a.GetLastSeq())
	}
}

// A restarted agent keeps numbering above what it used before (state file).
func TestSequenceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mk := func() *Runner {
		r, err := New(Config{Hello: &mxv1.Hello{AgentId: "a"}, Controllers: []string{"127.0.0.1:1"}, StateDir: dir, Checks: []checks.Check{&countingCheck{}}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := mk()
	for range 3 {
		r.round(context.Background())
	}
	if got := mk().outbox.LastSeq(); got != 3 {
		t.Fatalf("restarted agent starts after seq %d, want 3", got)
	}
}

// A node that is not the leader redirects; the client follows to the leader.
func TestFollowsNotLeaderRedirect(t *testing.T) {
	leaderAddr := freePort(t)
	n, stop, stopped := startController(t, leaderAddr)
	defer func() { stop(); <-stopped }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	follower := grpc.NewServer()
	mxv1.RegisterAgentServiceServer(follower, &redirectingServer{leader: leaderAddr})
	go func() { _ = follower.Serve(ln) }()
	defer follower.Stop()

	r, err := New(Config{
		Hello: &mxv1.Hello{AgentId: "edge07"}, Controllers: []string{ln.Addr().String()}, StateDir: t.TempDir(),
		Checks: []checks.Check{&countingCheck{}}, Interval: 50 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for n.Store().State().Agent("edge07").GetLastSeq() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n.Store().State().Agent("edge07").GetLastSeq() == 0 {
		t.Fatal("agent never reached the leader through the redirect")
	}
}

type redirectingServer struct {
	mxv1.UnimplementedAgentServiceServer
	leader string
}

func (s *redirectingServer) Connect(st mxv1.AgentService_ConnectServer) error {
	if _, err := st.Recv(); err != nil {
		return err
	}
	return st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{LeaderId: "c1", LeaderAddress: s.leader}}})
}

// A spool too small for the outage drops the oldest batches and says so in
// the next batch as AGENT_SPOOL_LOSS.
func TestSpoolOverflowIsReported(t *testing.T) {
	r, err := New(Config{Hello: &mxv1.Hello{AgentId: "edge05", Hostname: "edge05.contoso.test"}, Controllers: []string{"127.0.0.1:1"},
		StateDir: t.TempDir(), Checks: []checks.Check{&bulkyCheck{}}, Logger: quiet, SpoolMaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 40 {
		r.round(context.Background())
	}
	if r.outbox.Stats().Dropped == 0 {
		t.Fatal("a 64 KiB spool held 40 rounds of 8 KiB: nothing dropped?")
	}
	pending := r.outbox.Pending(0)
	last := pending[len(pending)-1]
	found := false
	for _, res := range last.GetResults() {
		for _, f := range res.GetFindings() {
			found = found || f.GetCode() == "AGENT_SPOOL_LOSS" && f.GetEvidence()["dropped_batches"] != "0"
		}
	}
	if !found {
		t.Fatal("no AGENT_SPOOL_LOSS in the batches after the drop")
	}
}

// bulkyCheck returns a finding with an 8 KiB evidence value.
type bulkyCheck struct{}

func (bulkyCheck) Name() string   { return "bulky" }
func (bulkyCheck) Target() string { return "local" }
func (bulkyCheck) Run(context.Context) ([]*mxv1.Finding, error) {
	return []*mxv1.Finding{{Code: "CERT_EXPIRING", Subject: "x", Evidence: map[string]string{"pad": strings.Repeat("x", 8<<10)}}}, nil
}
