package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
	"github.com/mxprobe/mxprobe/internal/clusterpki"
)

// controllerSet is a three-node cluster of controller processes.
type controllerSet struct {
	args  [][]string
	env   []string
	procs []*proc
	grpc  []string
	http  []string
	sec   *clusterpki.PKI // nil: --insecure
}

// startCluster starts n controllers, with mutual TLS, an agent CA and a
// bootstrap token when sec is set (the production path), else --insecure.
func startCluster(t *testing.T, n int, sec *clusterpki.PKI) *controllerSet {
	t.Helper()
	cs := &controllerSet{sec: sec}
	dir := t.TempDir()
	if sec != nil {
		cs.env = []string{"MXPROBE_AUTH_BOOTSTRAP_TOKEN=" + sec.Token}
	}
	var raft []string
	for range n {
		cs.grpc = append(cs.grpc, freePort(t))
		cs.http = append(cs.http, freePort(t))
		raft = append(raft, freePort(t))
	}
	for i := range n {
		args := []string{"run", "--node-id", fmt.Sprintf("c%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--bootstrap-expect", fmt.Sprint(n), "--grpc-listen", cs.grpc[i], "--http-listen", cs.http[i], "--raft-listen", raft[i],
			"--plan-interval", "100ms", "--plan-jitter", "10ms", "--log-level", "warn"}
		if sec == nil {
			args = append(args, "--insecure")
		} else {
			tlsArgs, err := sec.NodeArgs(dir, i)
			if err != nil {
				t.Fatal(err)
			}
			// These agents run a round every 100ms, above the default
			// per-agent limit (5 batches/s) meant for real rounds.
			args = append(args, append(tlsArgs, "--auth-agent-batch-rate", "0")...)
		}
		for _, g := range cs.grpc {
			args = append(args, "--retry-join", g)
		}
		cs.args = append(cs.args, args)
		cs.procs = append(cs.procs, startEnv(t, cs.env, "controller", args...))
	}
	return cs
}

// get reads path from node i's HTTP port (HTTPS with the bootstrap token
// when the cluster is secure).
func (cs *controllerSet) get(i int, path string) (int, []byte) {
	if cs.sec == nil {
		return get("http://" + cs.http[i] + path)
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+cs.http[i]+path, nil)
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+cs.sec.Token)
	resp, err := cs.sec.HTTPClient().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// agentDial is how agent id reaches the cluster: its own client
// certificate from the agent CA when the cluster is secure.
func (cs *controllerSet) agentDial(t *testing.T, id, site string) []grpc.DialOption {
	if cs.sec == nil {
		return nil
	}
	cfg, err := cs.sec.AgentTLS(id, site)
	if err != nil {
		t.Fatal(err)
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
}

type clusterStatus struct {
	NodeID   string `json:"nodeId"`
	State    string `json:"state"`
	LeaderID string `json:"leaderId"`
}

// leaderIndex waits for a node that says it leads and serves reads.
func (cs *controllerSet) leaderIndex(t *testing.T, skip int) int {
	t.Helper()
	idx := -1
	waitFor(t, 60*time.Second, "a leader", func() bool {
		for i := range cs.http {
			if i == skip {
				continue
			}
			code, body := cs.get(i, "/v1/cluster/status")
			var st clusterStatus
			if code == 200 && json.Unmarshal(body, &st) == nil && st.State == "leader" {
				if c, _ := cs.get(i, "/readyz"); c == 200 {
					idx = i
					return true
				}
			}
		}
		return false
	})
	return idx
}

// seqCheck returns one result per round.
type seqCheck struct{}

func (seqCheck) Name() string   { return "synthetic" }
func (seqCheck) Target() string { return "failover" }
func (seqCheck) Run(context.Context) ([]*mxv1.Finding, error) {
	return []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "AB"}}, nil
}

type agentBody struct {
	Agents []struct {
		AgentID          string `json:"agentId"`
		LastSeq          string `json:"lastSeq"`
		ResultsCommitted string `json:"resultsCommitted"`
	} `json:"agents"`
}

// TestKillLeaderMidIngestAndRestartAll: three controller processes, agents
// streaming; kill -9 the leader; agents move to the new leader; every
// acknowledged batch is committed exactly once (results counted). Then all
// three are killed at once and restarted: state intact. Once on the
// production path (mutual TLS, each agent with its own certificate and
// connection) and once --insecure (agents share connections).
func TestKillLeaderMidIngestAndRestartAll(t *testing.T) {
	t.Run("mutual TLS", func(t *testing.T) {
		sec, err := clusterpki.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		killLeaderMidIngest(t, startCluster(t, 3, sec))
	})
	t.Run("insecure", func(t *testing.T) { killLeaderMidIngest(t, startCluster(t, 3, nil)) })
}

func killLeaderMidIngest(t *testing.T, cs *controllerSet) {
	l := cs.leaderIndex(t, -1)

	const agents = 6
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runners []*runner.Runner
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range agents {
		id, site := fmt.Sprintf("agent-%d", i), fmt.Sprintf("site-%d", i%2)
		r, err := runner.New(runner.Config{
			Hello:       &mxv1.Hello{AgentId: id, Site: site},
			Controllers: cs.grpc, StateDir: t.TempDir(), Checks: []checks.Check{seqCheck{}},
			Interval: 100 * time.Millisecond, Logger: quiet, DialOptions: cs.agentDial(t, id, site),
		})
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
		t.Cleanup(func() { r.Close() })
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	waitFor(t, 30*time.Second, "agents acked before the kill", func() bool {
		for _, r := range runners {
			if r.Acked() < 5 {
				return false
			}
		}
		return true
	})
	_ = cs.procs[l].cmd.Process.Signal(syscall.SIGKILL)
	<-cs.procs[l].done
	l2 := cs.leaderIndex(t, l)
	before := make([]uint64, agents)
	for i, r := range runners {
		before[i] = r.Acked()
	}
	waitFor(t, 60*time.Second, "agents acked on the new leader", func() bool {
		for i, r := range runners {
			if r.Acked() < before[i]+5 {
				return false
			}
		}
		return true
	})
	if cs.sec != nil {
		// Every agent has its own connection to the new leader, and a
		// stream on it.
		code, body := cs.get(l2, "/metrics")
		var conns, streams float64
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "mxprobe_grpc_connections "); ok {
				fmt.Sscan(v, &conns)
			}
			if v, ok := strings.CutPrefix(line, "mxprobe_agent_streams_connected "); ok {
				fmt.Sscan(v, &streams)
			}
		}
		if code != 200 || conns < agents || streams < agents {
			t.Fatalf("new leader's mxprobe_grpc_connections = %v, mxprobe_agent_streams_connected = %v (HTTP %d), want >= %d", conns, streams, code, agents)
		}
	}
	cancel()
	wg.Wait()
	acked := make(map[string]uint64)
	for i, r := range runners {
		acked[fmt.Sprintf("agent-%d", i)] = r.Acked()
	}

	checkAckedPresent(t, cs, l2, acked)

	// Kill every node at once, restart all: the state is intact.
	for i, p := range cs.procs {
		if i != l {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	for i := range cs.procs {
		cs.procs[i] = startEnv(t, cs.env, "controller", cs.args[i]...)
	}
	checkAckedPresent(t, cs, cs.leaderIndex(t, -1), acked)
}

// checkAckedPresent is the acked-vs-present oracle: node's state holds
// every agent of acked, each committed at least up to the sequence the
// agent saw acknowledged, with exactly one result per one-result batch (no
// loss, no duplicates).
func checkAckedPresent(t *testing.T, cs *controllerSet, node int, acked map[string]uint64) {
	t.Helper()
	code, body := cs.get(node, "/v1/agents")
	var ab agentBody
	if code != 200 || json.Unmarshal(body, &ab) != nil {
		t.Fatalf("GET agents: %d %s", code, body)
	}
	if len(ab.Agents) != len(acked) {
		t.Fatalf("%d agents in state, want %d", len(ab.Agents), len(acked))
	}
	for _, a := range ab.Agents {
		var last, results uint64
		fmt.Sscan(a.LastSeq, &last)
		fmt.Sscan(a.ResultsCommitted, &results)
		if last < acked[a.AgentID] {
			t.Fatalf("%s: committed up to %d but %d was acknowledged: acked results lost", a.AgentID, last, acked[a.AgentID])
		}
		if results != last {
			t.Fatalf("%s: %d results committed for %d one-result batches: loss or duplicates", a.AgentID, results, last)
		}
	}
}
