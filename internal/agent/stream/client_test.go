package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// mode is how a test controller behaves.
type mode int

const (
	acking      mode = iota // Welcome, then an Ack per batch
	paused                  // Welcome, then reads and answers nothing (a stopped process)
	mute                    // never answers Hello
	redirecting             // NotLeader naming another node
	windowed                // acks only once it holds window unacknowledged batches
)

// committed is the cluster's view shared by the test controllers: the
// highest sequence committed, as raft would hold it.
type committed struct{ seq atomic.Uint64 }

type testController struct {
	mxv1.UnimplementedAgentServiceServer
	mode     mode
	leader   string // redirecting: the address named
	window   int    // windowed: batches held before acking
	state    *committed
	addr     string
	sessions atomic.Int32
	// conns counts accepted connections: proof the client tried this
	// controller even when its deadline cut the attempt before the
	// handler ran (a loaded machine, Wine).
	conns atomic.Int32
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func (c *testController) Connect(st mxv1.AgentService_ConnectServer) error {
	c.sessions.Add(1)
	if _, err := st.Recv(); err != nil {
		return err
	}
	switch c.mode {
	case mute, paused:
		if c.mode == paused {
			if err := st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Welcome{Welcome: &mxv1.Welcome{LastCommittedSeq: c.state.seq.Load()}}}); err != nil {
				return err
			}
		}
		<-st.Context().Done()
		return nil
	case redirecting:
		return st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{LeaderAddress: c.leader}}})
	}
	if err := st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Welcome{Welcome: &mxv1.Welcome{LastCommittedSeq: c.state.seq.Load()}}}); err != nil {
		return err
	}
	var held []uint64
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		seq := req.GetBatch().GetSeq()
		if c.mode == windowed {
			// Commit in order, acknowledge each once window are held:
			// a client that waited for every ack would stall here.
			held = append(held, seq)
			if len(held) < c.window {
				continue
			}
			for _, h := range held {
				if h == c.state.seq.Load()+1 {
					c.state.seq.Store(h)
				}
				if err := st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: h}}}); err != nil {
					return err
				}
			}
			held = held[:0]
			continue
		}
		if seq == c.state.seq.Load()+1 {
			c.state.seq.Store(seq)
		}
		if err := st.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: c.state.seq.Load()}}}); err != nil {
			return err
		}
	}
}

// serve starts a gRPC server for c on a loopback port until the test ends.
func serve(t *testing.T, c *testController) *testController {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, c, countingListener{ln, &c.conns})
}

// serveOn serves c on ln until the test ends.
func serveOn(t *testing.T, c *testController, ln net.Listener) *testController {
	t.Helper()
	c.addr = ln.Addr().String()
	srv := grpc.NewServer()
	mxv1.RegisterAgentServiceServer(srv, c)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	return c
}

// run streams batches 1..n, each carrying pad bytes, through controllers
// until they are all acknowledged, and returns the client.
func run(t *testing.T, ackTimeout time.Duration, n uint64, pad int, controllers ...*testController) *Client {
	return runInFlight(t, ackTimeout, 0, n, pad, controllers...)
}

// runInFlight is run with Config.InFlight (0: default).
func runInFlight(t *testing.T, ackTimeout time.Duration, inFlight int, n uint64, pad int, controllers ...*testController) *Client {
	t.Helper()
	out := NewMemOutbox(0, 0)
	for seq := uint64(1); seq <= n; seq++ {
		b := &mxv1.ResultBatch{Seq: seq}
		if pad > 0 {
			b.Results = []*mxv1.CheckResult{{Check: "smtp_probe", Error: strings.Repeat("x", pad)}}
		}
		if err := out.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	var addrs []string
	for _, c := range controllers {
		addrs = append(addrs, c.addr)
	}
	c, err := NewClient(Config{Controllers: addrs, Hello: &mxv1.Hello{AgentId: "edge01"}, Outbox: out,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, AckTimeout: ackTimeout, InFlight: inFlight,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(60 * time.Second)
	for c.Acked() < n {
		if time.Now().After(deadline) {
			t.Fatalf("acked %d of %d batches", c.Acked(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// A controller that welcomes the agent and then acknowledges nothing (a
// stopped process keeps its sockets) is left for the next address.
func TestClientLeavesControllerThatStopsAcknowledging(t *testing.T) {
	state := &committed{}
	stuck := serve(t, &testController{mode: paused, state: state})
	good := serve(t, &testController{mode: acking, state: state})
	run(t, 200*time.Millisecond, 5, 0, stuck, good)
	if stuck.conns.Load() == 0 {
		t.Fatal("the client never tried the paused controller first")
	}
}

// Batches far larger than HTTP/2's flow-control windows: the paused
// controller reads nothing, so Send blocks, and the deadline still cuts it.
func TestClientLeavesControllerWhileSendBlocks(t *testing.T) {
	state := &committed{}
	stuck := serve(t, &testController{mode: paused, state: state})
	good := serve(t, &testController{mode: acking, state: state})
	run(t, 200*time.Millisecond, 20, 512<<10, stuck, good)
	if stuck.conns.Load() == 0 {
		t.Fatal("the client never tried the paused controller first")
	}
}

// A controller that never answers Hello is left too.
func TestClientLeavesControllerThatNeverWelcomes(t *testing.T) {
	state := &committed{}
	silent := serve(t, &testController{mode: mute, state: state})
	good := serve(t, &testController{mode: acking, state: state})
	run(t, 200*time.Millisecond, 5, 0, silent, good)
	if silent.conns.Load() == 0 {
		t.Fatal("the client never tried the silent controller first")
	}
}

// A follower that still names the node that stopped acknowledging as the
// leader does not send the agent back to it: the agent tries the other
// nodes first.
func TestClientPassesOverRedirectToNodeThatStoppedAcknowledging(t *testing.T) {
	state := &committed{}
	stuck := serve(t, &testController{mode: paused, state: state})
	follower := serve(t, &testController{mode: redirecting, leader: stuck.addr, state: state})
	leader := serve(t, &testController{mode: acking, state: state})
	// The suspicion lasts three ack timeouts: long enough that the client
	// has settled on the leader before it ends, on a loaded machine too.
	run(t, 2*time.Second, 5, 0, stuck, follower, leader)
	if got := stuck.sessions.Load(); got != 1 {
		t.Fatalf("the paused controller saw %d sessions, want 1 (the redirect to it was followed)", got)
	}
	if follower.sessions.Load() == 0 {
		t.Fatal("the follower was never asked")
	}
}

// The redirect is followed when the suspect is the only node configured.
func TestClientFollowsRedirectWithoutAlternative(t *testing.T) {
	var sus suspects
	c := &Client{cfg: Config{Controllers: []string{"a:1"}}}
	sus.add("a:1", time.Now().Add(time.Hour))
	if c.alternative("a:1", &sus) {
		t.Fatal("an alternative to the only controller")
	}
	if addr, _ := c.next(0, &sus); addr != "a:1" {
		t.Fatalf("next = %q, want the only controller", addr)
	}
}

func TestAckClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := &ackClock{acked: 4}
	if _, _, _, late := a.overdue(t0.Add(time.Hour), time.Second); late {
		t.Fatal("overdue with nothing outstanding")
	}
	a.send(5, t0)
	a.send(6, t0.Add(900*time.Millisecond))
	if _, _, _, late := a.overdue(t0.Add(time.Second), time.Second); late {
		t.Fatal("overdue at the timeout")
	}
	if from, to, _, late := a.overdue(t0.Add(1100*time.Millisecond), time.Second); !late || from != 5 || to != 6 {
		t.Fatalf("overdue = %d-%d %v, want 5-6 late (counted from the oldest send)", from, to, late)
	}
	// An ack restarts the wait for the rest.
	a.ack(5, t0.Add(1050*time.Millisecond))
	if _, _, _, late := a.overdue(t0.Add(1500*time.Millisecond), time.Second); late {
		t.Fatal("overdue right after an ack")
	}
	if from, _, _, late := a.overdue(t0.Add(2100*time.Millisecond), time.Second); !late || from != 6 {
		t.Fatalf("overdue from %d %v, want 6 late", from, late)
	}
	a.ack(6, t0.Add(2200*time.Millisecond))
	a.send(7, t0.Add(5*time.Second))
	if _, _, _, late := a.overdue(t0.Add(5500*time.Millisecond), time.Second); late {
		t.Fatal("a new batch after an idle time inherited the old wait")
	}
}

// The client keeps InFlight batches unacknowledged: a controller that
// acknowledges only once it holds that many gets them all (a client waiting
// for each ack before the next send would stall, and the test time out).
func TestClientKeepsBatchesInFlight(t *testing.T) {
	for _, window := range []int{DefaultInFlight, 7} {
		ctl := serve(t, &testController{mode: windowed, window: window, state: &committed{}})
		inFlight := window
		if window == DefaultInFlight {
			inFlight = 0 // the default
		}
		c := runInFlight(t, 30*time.Second, inFlight, uint64(window*5), 0, ctl)
		if got := ctl.state.seq.Load(); got != uint64(window*5) || c.Acked() != got {
			t.Fatalf("window %d: committed %d, acked %d", window, got, c.Acked())
		}
	}
}

// The in-flight count follows acks, which cover everything at or below
// their sequence, also across sequences the spool lost.
func TestAckClockInFlight(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := &ackClock{acked: 2}
	a.send(2, t0) // at or below the Welcome's floor: not outstanding
	for _, seq := range []uint64{3, 4, 7, 9} {
		a.send(seq, t0)
	}
	if n := a.outstanding(); n != 4 {
		t.Fatalf("outstanding %d, want 4", n)
	}
	a.ack(4, t0)
	if n := a.outstanding(); n != 2 {
		t.Fatalf("after ack 4: outstanding %d, want 2 (7 and 9)", n)
	}
	a.ack(8, t0)
	if n := a.outstanding(); n != 1 {
		t.Fatalf("after ack 8: outstanding %d, want 1 (9)", n)
	}
	a.ack(9, t0)
	if n := a.outstanding(); n != 0 {
		t.Fatalf("after ack 9: outstanding %d", n)
	}
}
