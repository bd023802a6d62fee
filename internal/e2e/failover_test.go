package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
)

// controllerSet is a three-node cluster of controller processes.
type controllerSet struct {
	args  [][]string
	procs []*proc
	grpc  []string
	http  []string
}

func startCluster(t *testing.T, n int) *controllerSet {
	t.Helper()
	cs := &controllerSet{}
	dir := t.TempDir()
	var raft []string
	for range n {
		cs.grpc = append(cs.grpc, freePort(t))
		cs.http = append(cs.http, freePort(t))
		raft = append(raft, freePort(t))
	}
	for i := range n {
		args := []string{"run", "--insecure", "--node-id", fmt.Sprintf("c%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--bootstrap-expect", fmt.Sprint(n), "--grpc-listen", cs.grpc[i], "--http-listen", cs.http[i], "--raft-listen", raft[i],
			"--plan-interval", "100ms", "--plan-jitter", "10ms", "--log-level", "warn"}
		for _, g := range cs.grpc {
			args = append(args, "--retry-join", g)
		}
		cs.args = append(cs.args, args)
		cs.procs = append(cs.procs, start(t, "controller", args...))
	}
	return cs
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
		for i, h := range cs.http {
			if i == skip {
				continue
			}
			code, body := get("http://" + h + "/v1/cluster/status")
			var st clusterStatus
			if code == 200 && json.Unmarshal(body, &st) == nil && st.State == "leader" {
				if c, _ := get("http://" + h + "/readyz"); c == 200 {
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
// three are killed at once and restarted: state intact.
func TestKillLeaderMidIngestAndRestartAll(t *testing.T) {
	cs := startCluster(t, 3)
	l := cs.leaderIndex(t, -1)

	const agents = 6
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runners []*runner.Runner
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range agents {
		r, err := runner.New(runner.Config{
			Hello:       &mxv1.Hello{AgentId: fmt.Sprintf("agent-%d", i), Site: fmt.Sprintf("site-%d", i%2)},
			Controllers: cs.grpc, StateDir: t.TempDir(), Checks: []checks.Check{seqCheck{}},
			Interval: 100 * time.Millisecond, Logger: quiet,
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
	cancel()
	wg.Wait()
	acked := make(map[string]uint64)
	for i, r := range runners {
		acked[fmt.Sprintf("agent-%d", i)] = r.Acked()
	}

	check := func(httpAddr string) {
		t.Helper()
		code, body := get("http://" + httpAddr + "/v1/agents")
		var ab agentBody
		if code != 200 || json.Unmarshal(body, &ab) != nil {
			t.Fatalf("GET agents: %d %s", code, body)
		}
		if len(ab.Agents) != agents {
			t.Fatalf("%d agents in state, want %d", len(ab.Agents), agents)
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
	check(cs.http[l2])

	// Kill every node at once, restart all: the state is intact.
	for i, p := range cs.procs {
		if i != l {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	for i := range cs.procs {
		cs.procs[i] = start(t, "controller", cs.args[i]...)
	}
	l3 := cs.leaderIndex(t, -1)
	check(cs.http[l3])
}
