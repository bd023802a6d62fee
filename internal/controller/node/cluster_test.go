package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// testNode is one member of an in-process cluster with real TCP, raft on
// disk and real gRPC.
type testNode struct {
	cfg    Config
	n      *Node
	cancel context.CancelFunc
	done   chan struct{}
}

func (tn *testNode) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Start(ctx, tn.cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	tn.n, tn.cancel, tn.done = n, cancel, make(chan struct{})
	go func() { defer close(tn.done); _ = n.Run(ctx) }()
}

func (tn *testNode) stop() {
	if tn.cancel != nil {
		tn.cancel()
		<-tn.done
		tn.cancel = nil
	}
}

func newCluster(t *testing.T, size int, mtls func(i int) *tlsutil.Mutual, secure ...func(*Config)) []*testNode {
	t.Helper()
	var grpcAddrs []string
	nodes := make([]*testNode, size)
	for range nodes {
		grpcAddrs = append(grpcAddrs, freePort(t))
	}
	base := t.TempDir()
	for i := range nodes {
		cfg := Config{
			NodeID: fmt.Sprintf("c%d", i+1), DataDir: filepath.Join(base, fmt.Sprint(i)),
			GRPCListen: grpcAddrs[i], HTTPListen: freePort(t), RaftListen: freePort(t),
			BootstrapExpect: size, RetryJoin: grpcAddrs, Insecure: mtls == nil,
			Plan:   ingest.Plan{Interval: 100 * time.Millisecond},
			Logger: quiet(),
			// Raft timeouts a loaded shared machine (2 cores, 7 other
			// builds) does not trip: with 300 ms a follower missed
			// heartbeats and took over between a test finding the leader
			// and talking to it. A test that wants a failover stops the
			// leader, which hands leadership over at once.
			HeartbeatTimeout: 2 * time.Second, ElectionTimeout: 2 * time.Second, LeaderLeaseTimeout: time.Second,
		}
		if mtls != nil {
			cfg.TLS = mtls(i)
		}
		for _, f := range secure {
			f(&cfg)
		}
		nodes[i] = &testNode{cfg: cfg}
	}
	for _, tn := range nodes {
		tn.start(t)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop()
		}
	})
	return nodes
}

// leader waits for exactly one ready leader among the running nodes.
func leader(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var ls []*testNode
		for _, tn := range nodes {
			if tn.cancel != nil && tn.n.Store().LeaderReady() {
				ls = append(ls, tn)
			}
		}
		if len(ls) == 1 {
			return ls[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no single ready leader within 30s")
	return nil
}

func TestClusterFormsWithBootstrapExpectAndRedirectsAgents(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leader(t, nodes)
	// Every node registers; followers learn the leader's gRPC address.
	var f *testNode
	for _, tn := range nodes {
		if tn != l {
			f = tn
		}
	}
	waitUntil(t, 20*time.Second, "follower knows the leader's gRPC address", func() bool {
		_, addr := f.n.Cluster().LeaderGRPC()
		return addr == l.n.GRPCAddr()
	})
	st, err := l.n.Store().Status()
	if err != nil || len(st.Peers) != 3 {
		t.Fatalf("leader status %+v %v", st, err)
	}

	// An agent reaching the follower is redirected to the leader.
	c := dial(t, f.n.GRPCAddr())
	s, err := c.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge01"}}})
	m, err := s.Recv()
	if err != nil || m.GetNotLeader().GetLeaderAddress() != l.n.GRPCAddr() || m.GetNotLeader().GetLeaderId() != l.cfg.NodeID {
		t.Fatalf("follower answered %v, %v; want NotLeader to %s", m, err, l.n.GRPCAddr())
	}

	// Write through the leader; a default (linearizable) read on the
	// follower is forwarded and sees it at once.
	ls, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge01")
	sendBatch(t, ls, 1, "CERT_NO_PRIVATE_KEY")
	body := httpGet(t, "http://"+f.n.HTTPAddr()+"/v1/findings", 200)
	if !strings.Contains(body, "CERT_NO_PRIVATE_KEY") {
		t.Fatalf("linearizable read on follower missed the committed finding: %s", body)
	}
	// Stale reads are answered locally (eventually consistent).
	waitUntil(t, 10*time.Second, "stale read on follower", func() bool {
		return strings.Contains(httpGet(t, "http://"+f.n.HTTPAddr()+"/v1/findings?stale=true", 200), "CERT_NO_PRIVATE_KEY")
	})
	// Status from the leader carries peer health and gRPC addresses.
	waitUntil(t, 10*time.Second, "leader sees healthy peers", func() bool {
		body := httpGet(t, "http://"+l.n.HTTPAddr()+"/v1/cluster/status", 200)
		return strings.Count(body, `"healthy":true`) == 3 && strings.Contains(body, f.n.GRPCAddr())
	})
}

func TestLeaderLossElectsNewLeaderAndRestartRejoins(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leader(t, nodes)
	s, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge02")
	for seq := uint64(1); seq <= 5; seq++ {
		sendBatch(t, s, seq, "CERT_EXPIRED")
	}
	_ = s.CloseSend()
	oldID := l.cfg.NodeID
	l.stop() // graceful: hands leadership over first

	l2 := leader(t, nodes)
	if l2.cfg.NodeID == oldID {
		t.Fatal("stopped node still leads")
	}
	// Every acknowledged batch is on the new leader.
	if got := l2.n.Store().State().Agent("edge02").GetLastSeq(); got != 5 {
		t.Fatalf("new leader has seq %d of edge02, want 5", got)
	}
	s2, w := connect(t, dial(t, l2.n.GRPCAddr()), "edge02")
	if w.GetLastCommittedSeq() != 5 {
		t.Fatalf("welcome on new leader: %d", w.GetLastCommittedSeq())
	}
	sendBatch(t, s2, 6, "CERT_EXPIRED")

	// The old node restarts from its data dir: no re-bootstrap, it rejoins
	// as a follower and catches up.
	l.start(t)
	waitUntil(t, 20*time.Second, "restarted node catches up", func() bool {
		return l.n.Store().State().Agent("edge02").GetLastSeq() == 6
	})
	if l.n.Store().IsLeader() && l2.n.Store().IsLeader() {
		t.Fatal("two leaders")
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node that stops leading cuts the agent streams it holds, idle ones
// included: they learn of the new leader at once, not at their next batch.
// Reconnecting to it is answered NotLeader with the new leader's address.
func TestLeadershipLossDropsAgentStreams(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leader(t, nodes)
	s, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge03")
	sendBatch(t, s, 1, "CERT_EXPIRED")
	ended := make(chan error, 1)
	go func() {
		_, err := s.Recv()
		ended <- err
	}()
	if err := l.n.Store().TransferLeadership(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the deposed leader sent the idle stream a message instead of closing it")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the deposed leader kept the idle agent stream open")
	}
	l2 := leader(t, nodes)
	if l2 == l {
		t.Fatal("leadership did not move")
	}
	waitUntil(t, 20*time.Second, "the old leader redirects to the new one", func() bool {
		st, err := dial(t, l.n.GRPCAddr()).Connect(t.Context())
		if err != nil {
			return false
		}
		defer st.CloseSend()
		if st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge03", Site: "amsterdam"}}}) != nil {
			return false
		}
		m, err := st.Recv()
		return err == nil && m.GetNotLeader().GetLeaderAddress() == l2.n.GRPCAddr()
	})
}

// secureCluster is a cluster on the production path: mutual TLS from a
// cluster CA, an agent CA that signs agents' certificates, and the
// bootstrap admin token.
type secureCluster struct {
	nodes     []*testNode
	clusterCA *testCA
	agentCA   *pki.CA
}

// newSecureCluster starts size nodes; opts adjust each node's
// configuration after the security settings.
func newSecureCluster(t *testing.T, size int, opts ...func(*Config)) *secureCluster {
	t.Helper()
	clusterCA := newTestCA(t)
	agentCA, err := pki.Generate("test agent CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]func(*Config){func(c *Config) { c.AgentCA, c.AgentCertTTL, c.BootstrapToken = agentCA, time.Hour, bootstrapToken }}, opts...)
	nodes := newCluster(t, size, func(i int) *tlsutil.Mutual { return clusterCA.mutual(t, fmt.Sprintf("c%d", i+1)) }, opts...)
	return &secureCluster{nodes: nodes, clusterCA: clusterCA, agentCA: agentCA}
}

// leaderAndFollower waits for the leader and returns it with a follower
// that already knows the leader's gRPC address (so it forwards).
func (s *secureCluster) leaderAndFollower(t *testing.T) (l, f *testNode) {
	t.Helper()
	l = leader(t, s.nodes)
	f = s.nodes[0]
	if f == l {
		f = s.nodes[1]
	}
	waitUntil(t, 20*time.Second, "follower knows the leader's gRPC address", func() bool {
		_, addr := f.n.Cluster().LeaderGRPC()
		return addr == l.n.GRPCAddr()
	})
	return l, f
}
