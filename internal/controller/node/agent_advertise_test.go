package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// With grpc.agent_advertise, agents reaching a follower are redirected to
// the name the leader gave for agents (e.g. outside Kubernetes), while the
// nodes keep reaching each other on their gRPC addresses; cluster status
// shows both.
func TestNotLeaderRedirectsAgentsToTheAgentAddress(t *testing.T) {
	nodes := newCluster(t, 3, nil, func(c *Config) {
		c.AgentAdvertise = "agents-" + c.NodeID + ".mail.contoso.test:7400"
	})
	l := leader(t, nodes)
	f := nodes[0]
	if f == l {
		f = nodes[1]
	}
	want := "agents-" + l.cfg.NodeID + ".mail.contoso.test:7400"
	waitUntil(t, 20*time.Second, "follower knows the leader's agent address", func() bool {
		_, addr := f.n.Cluster().LeaderAgent()
		return addr == want
	})
	if _, addr := f.n.Cluster().LeaderGRPC(); addr != l.n.GRPCAddr() {
		t.Fatalf("node-to-node leader address = %s, want %s", addr, l.n.GRPCAddr())
	}
	s, err := dial(t, f.n.GRPCAddr()).Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge01"}}})
	m, err := s.Recv()
	if err != nil || m.GetNotLeader().GetLeaderAddress() != want {
		t.Fatalf("follower answered %v, %v; want NotLeader to %s", m, err, want)
	}
	// Writes forwarded between nodes still work (they use grpc addresses).
	ls, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge01")
	sendBatch(t, ls, 1, "CERT_NO_PRIVATE_KEY")
	if body := httpGet(t, "http://"+f.n.HTTPAddr()+"/v1/findings", 200); !strings.Contains(body, "CERT_NO_PRIVATE_KEY") {
		t.Fatalf("forwarded read missed the finding: %s", body)
	}
	waitUntil(t, 10*time.Second, "status lists every agent address", func() bool {
		body := httpGet(t, "http://"+l.n.HTTPAddr()+"/v1/cluster/status", 200)
		for _, tn := range nodes {
			if !strings.Contains(body, `"agentAddress":"agents-`+tn.cfg.NodeID+`.mail.contoso.test:7400"`) {
				return false
			}
		}
		return true
	})
}

func TestAgentAdvertiseMustBeDialable(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7400", "[::]:7400", "agents.example:0", "agents.example", ":7400", "agents.example:99999"} {
		cfg := Config{NodeID: "c1", DataDir: t.TempDir(), GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: freePort(t),
			Insecure: true, Bootstrap: true, AgentAdvertise: addr, Logger: quiet()}
		n, err := Start(context.Background(), cfg)
		if !errors.Is(err, ErrBadAgentAdvertise) {
			if n != nil {
				t.Errorf("Start accepted agent address %q", addr)
			}
			t.Fatalf("agent address %q: %v, want ErrBadAgentAdvertise", addr, err)
		}
	}
}
