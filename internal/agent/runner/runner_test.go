package runner

import (
	"context"
	"fmt"
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
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ports never hands out the same port twice in this test binary.
var ports portalloc.Allocator

func freePort(t *testing.T) string { return ports.Port(t) }

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
		NodeID: "c1", DataDir: tempdir.New(t), Bootstrap: true, Insecure: true, GRPCListen: grpcAddr, HTTPListen: "127.0.0.1:0", RaftListen: freePort(t),
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
		StateDir:    tempdir.New(t),
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
	dir := tempdir.New(t)
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
	r.Close() // the agent stops; on Windows its open segment would also block the cleanup
	r = mk()
	defer r.Close()
	if got := r.outbox.LastSeq(); got != 3 {
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
		Hello: &mxv1.Hello{AgentId: "edge07"}, Controllers: []string{ln.Addr().String()}, StateDir: tempdir.New(t),
		Checks: []checks.Check{&countingCheck{}}, Interval: 50 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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

// A spool too small for the outage drops the oldest batches; every batch
// after the first drop carries the cumulative loss (batches and results,
// exact) and the AGENT_SPOOL_LOSS finding, until a batch reporting the
// current total is acknowledged; then only the counters ride along.
func TestSpoolOverflowIsReported(t *testing.T) {
	var made []*mxv1.ResultBatch
	r, err := New(Config{Hello: &mxv1.Hello{AgentId: "edge05", Hostname: "edge05.contoso.test"}, Controllers: []string{"127.0.0.1:1"},
		StateDir: tempdir.New(t), Checks: []checks.Check{&bulkyCheck{}}, Logger: quiet, SpoolMaxBytes: 64 << 10,
		OnRound: func(b *mxv1.ResultBatch) { made = append(made, b) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 40 {
		r.round(context.Background())
	}
	dropped := r.outbox.Stats().Dropped
	if dropped < 20 {
		t.Fatalf("a 64 KiB spool held 40 rounds of 8 KiB: only %d dropped", dropped)
	}
	pending := r.outbox.Pending(0)
	var madeResults, heldResults uint64
	for _, b := range made {
		madeResults += uint64(len(b.GetResults()))
	}
	for _, b := range pending {
		heldResults += uint64(len(b.GetResults()))
	}
	// The newest batch was made before the last round's drops: compare
	// with the spool's own counters, then with what was really lost.
	l := r.outbox.Loss()
	if l.DroppedFull != dropped || l.Results != madeResults-heldResults || l.WriteFailed+l.Corrupt != 0 {
		t.Fatalf("Loss = %+v, want %d batches and %d results dropped", l, dropped, madeResults-heldResults)
	}
	last := pending[len(pending)-1]
	if got := last.GetSpoolLoss().GetDroppedFull(); got < dropped-1 || got == 0 {
		t.Fatalf("newest batch carries %d dropped, the spool had dropped %d", got, dropped)
	}
	lossFinding := func(b *mxv1.ResultBatch) *mxv1.Finding {
		for _, res := range b.GetResults() {
			for _, f := range res.GetFindings() {
				if f.GetCode() == "AGENT_SPOOL_LOSS" {
					return f
				}
			}
		}
		return nil
	}
	f := lossFinding(last)
	if f == nil || f.GetEvidence()["lost_batches_total"] != fmt.Sprint(last.GetSpoolLoss().GetDroppedFull()) {
		t.Fatalf("newest batch's AGENT_SPOOL_LOSS: %v (carries %v)", f, last.GetSpoolLoss())
	}
	// Every held batch after the first drop repeats the report.
	for _, b := range pending {
		if lossFinding(b) == nil {
			t.Fatalf("batch %d lacks the loss report", b.GetSeq())
		}
	}
	// The newest batch's own Append dropped one more after its report was
	// made: once the controller acknowledged everything, the next round
	// reports that one; once that is acknowledged, rounds carry the
	// counters but no finding (nothing new).
	r.outbox.Trim(last.GetSeq())
	r.round(context.Background())
	if f := lossFinding(made[len(made)-1]); f == nil || f.GetEvidence()["new_since_last_report"] != "1" {
		t.Fatalf("the drop by the last Append went unreported: %v", f)
	}
	r.outbox.Trim(made[len(made)-1].GetSeq())
	r.round(context.Background())
	next := made[len(made)-1]
	if lossFinding(next) != nil || next.GetSpoolLoss().GetDroppedFull() != r.outbox.Loss().DroppedFull {
		t.Fatalf("after the ack: finding %v, counters %v", lossFinding(next), next.GetSpoolLoss())
	}
}

// bulkyCheck returns a finding with an 8 KiB evidence value.
type bulkyCheck struct{}

func (bulkyCheck) Name() string   { return "bulky" }
func (bulkyCheck) Target() string { return "local" }
func (bulkyCheck) Run(context.Context) ([]*mxv1.Finding, error) {
	return []*mxv1.Finding{{Code: "CERT_EXPIRING", Subject: "x", Evidence: map[string]string{"pad": strings.Repeat("x", 8<<10)}}}, nil
}
