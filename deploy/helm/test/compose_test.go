package helmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComposeLabFailover is the container smoke test: build the images, bring
// the compose lab up, wait for a leader and for agents of both sites through
// the REST API published on 127.0.0.1, `docker kill` the leader's container,
// wait for a new leader, and always `down -v`. Skipped without docker; CI has
// docker. Bounded to 4 minutes after the images are built (labImages).
func TestComposeLabFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs containers")
	}
	compose := composeCommand()
	if compose == nil {
		t.Skip("docker or docker compose not available")
	}
	images := labImages.build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root := RepoRoot()
	project := fmt.Sprintf("mxprobe-smoke%d", os.Getpid())
	ports := freePorts(t, 4)
	env := append(cleanEnv(), "MXPROBE_TAG="+images, "TAG="+images,
		"MXPROBE_LAB_HTTP_1="+ports[0], "MXPROBE_LAB_HTTP_2="+ports[1], "MXPROBE_LAB_HTTP_3="+ports[2], "MXPROBE_LAB_GRPC="+ports[3])

	run := func(ctx context.Context, name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out), 3000))
		}
		return string(out), nil
	}
	dc := func(ctx context.Context, args ...string) (string, error) {
		full := append(append(compose[1:], "-p", project, "-f", filepath.Join(root, "deploy", "compose", "docker-compose.yml")), args...)
		return run(ctx, compose[0], full...)
	}

	t.Cleanup(func() {
		// Always, even after a timeout: a fresh context for the teardown.
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if t.Failed() {
			out, _ := dc(cctx, "logs", "--tail=40")
			t.Logf("compose logs:\n%s", tail(out, 8000))
		}
		if out, err := dc(cctx, "down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	if _, err := dc(ctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}

	nodes := map[string]string{ // node id (= compose service) -> published HTTP base
		"controller-1": "http://127.0.0.1:" + ports[0],
		"controller-2": "http://127.0.0.1:" + ports[1],
		"controller-3": "http://127.0.0.1:" + ports[2],
	}
	leader := waitLeader(ctx, t, plainREST(), nodes, "")
	t.Logf("leader %s", leader)
	// Agents of both sites, each on its own network, reached the cluster.
	waitFor(ctx, t, "3 agents in 2 sites", func() (bool, string) {
		sites, err := agentSites(ctx, nodes[leader])
		return err == nil && len(sites) == 3 && countDistinct(sites) == 2, fmt.Sprintf("%v %v", sites, err)
	})

	id, err := dc(ctx, "ps", "-q", leader)
	if err != nil || strings.TrimSpace(id) == "" {
		t.Fatalf("container of %s: %q %v", leader, id, err)
	}
	if _, err := run(ctx, "docker", "kill", strings.TrimSpace(id)); err != nil {
		t.Fatal(err)
	}
	delete(nodes, leader)
	next := waitLeader(ctx, t, plainREST(), nodes, leader)
	t.Logf("new leader %s after killing %s", next, leader)
	// The new leader still serves the committed agents (linearizable read).
	if sites, err := agentSites(ctx, nodes[next]); err != nil || len(sites) != 3 {
		t.Errorf("after failover: agents %v, %v", sites, err)
	}
}

// composeCommand is `docker compose` or `docker-compose`, nil without docker.
func composeCommand() []string {
	if exec.Command("docker", "info").Run() != nil {
		return nil
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	return nil
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		out = append(out, p)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for ctx.Err() == nil {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %s", what, last)
}

// waitLeader waits until every node in nodes names the same leader, which is
// one of them, is not `not`, and reports all of them as voters.
func waitLeader(ctx context.Context, t *testing.T, api rest, nodes map[string]string, not string) string {
	t.Helper()
	var leader string
	waitFor(ctx, t, "a leader", func() (bool, string) {
		leader = ""
		for id, base := range nodes {
			st, err := getStatus(ctx, api, base)
			if err != nil {
				return false, err.Error()
			}
			if st.LeaderID == "" || st.LeaderID == not || (leader != "" && st.LeaderID != leader) {
				return false, fmt.Sprintf("%s sees leader %q", id, st.LeaderID)
			}
			leader = st.LeaderID
		}
		if _, ok := nodes[leader]; !ok {
			return false, "leader " + leader + " is not a live node"
		}
		return true, ""
	})
	return leader
}

func agentSites(ctx context.Context, base string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/agents", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Agents []struct {
			Site string `json:"site"`
		} `json:"agents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	var sites []string
	for _, a := range r.Agents {
		sites = append(sites, a.Site)
	}
	return sites, nil
}

func countDistinct(s []string) int {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return len(m)
}
