package helmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/clusterpki"
)

// resultsPerBatch is what one round of each compose-lab agent yields: one
// result per configured check (its certificate store plus its SMTP probes,
// deploy/compose/docker-compose.yml); the controllers' plan adds no probe
// targets. An AGENT_SPOOL_LOSS result would add one, a lost or doubly
// applied batch would break resultsCommitted == lastSeq * resultsPerBatch.
var resultsPerBatch = map[string]uint64{
	"edge01-site-a": 3, // pemdir + expired + no-starttls
	"mbx01-site-a":  3, // pemdir + good + missing-intermediate
	"mx01-site-b":   4, // pemdir + expired + good + wrong-name
}

var siteA = []string{"edge01-site-a", "mbx01-site-a"}

// TestComposeFaults runs the container faults on the compose lab,
// on the production path (docker-compose.secure.yml: mutual TLS, an agent
// CA, a bootstrap token; agents enroll with join tokens at first start and
// stream to the controllers over mutual TLS): three controllers,
// agents in two sites on separate Docker networks, the SMTP lab, rounds
// every 2s. Then
//
//	(a) site-a is cut off (the controllers are disconnected from the site-a
//	    network, so its agents reach no controller while they still reach
//	    the SMTP lab) for 20s and reconnected: its agents spool and replay;
//	(b) the leader's container is killed (docker kill), a new leader takes
//	    over, and the container is replaced (removed, created again on its
//	    volume) and rejoins;
//	(c) every controller is restarted one by one (docker restart: SIGTERM,
//	    leadership handed over), agents streaming throughout.
//
// After each step, counted through the REST API from the host: for every
// agent resultsCommitted == lastSeq * resultsPerBatch (no batch lost, none
// applied twice; batches are committed strictly in sequence), and lastSeq
// has moved on since the fault. At the end no AGENT_SPOOL_LOSS finding.
// Skipped without docker or with -short; bounded to 4m30s; always removes
// its containers, networks, volumes and images.
func TestComposeFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs containers")
	}
	compose := composeCommand()
	if compose == nil {
		t.Skip("docker or docker compose not available")
	}
	l := newLab(t, compose, "faults") // builds the images first: the deadline is the scenario's
	ctx, cancel := context.WithTimeout(context.Background(), 270*time.Second)
	defer cancel()
	start := time.Now()
	l.env = append(l.env, "MXPROBE_LAB_INTERVAL=2s", "MXPROBE_LAB_JITTER=200ms")
	l.secure(t)
	l.buildAndUp(ctx, t, "controller-1", "controller-2", "controller-3", "smtp-lab")
	all := l.nodes()
	leader := waitLeader(ctx, t, l.api, all, "")
	// Join tokens for the sites' agents, then the agents: they enroll at
	// their first start (MXPROBE_JOIN_TOKEN) and stream over mutual TLS.
	l.env = append(l.env, "MXPROBE_LAB_JOIN_SITE_A="+l.joinToken(ctx, t, all, "site-a", 2),
		"MXPROBE_LAB_JOIN_SITE_B="+l.joinToken(ctx, t, all, "site-b", 1))
	l.dc(ctx, t, "up", "-d")
	t.Logf("images built and lab up after %s", time.Since(start).Round(time.Second))

	s := l.waitProgress(ctx, t, "start", all, nil, 2)
	l.checkLabFindings(ctx, t, all)
	t.Logf("leader %s; agents %s (%s)", leader, s, time.Since(start).Round(time.Second))

	// (a) Cut site-a off from every controller, then reconnect.
	siteNet := l.network(ctx, t, "site-a")
	ctrls := []string{"controller-1", "controller-2", "controller-3"}
	for _, c := range ctrls {
		l.mustRun(ctx, t, "docker", "network", "disconnect", siteNet, l.container(ctx, t, c))
	}
	time.Sleep(3 * time.Second) // a batch already on the wire may still commit
	frozen := l.snapshot(ctx, t, all)
	cutEnd := time.Now().Add(20 * time.Second)
	for time.Now().Before(cutEnd) {
		time.Sleep(2 * time.Second)
		now := l.snapshot(ctx, t, all)
		for _, a := range siteA {
			if now[a].LastSeq != frozen[a].LastSeq {
				t.Fatalf("site-a is cut off, yet %s's lastSeq moved %d -> %d", a, frozen[a].LastSeq, now[a].LastSeq)
			}
		}
	}
	during := l.snapshot(ctx, t, all)
	if during["mx01-site-b"].LastSeq < frozen["mx01-site-b"].LastSeq+5 {
		t.Errorf("site-b stalled while site-a was cut off: lastSeq %d -> %d", frozen["mx01-site-b"].LastSeq, during["mx01-site-b"].LastSeq)
	}
	for _, c := range ctrls {
		l.mustRun(ctx, t, "docker", "network", "connect", "--alias", c, siteNet, l.container(ctx, t, c))
	}
	// About ten rounds were spooled in 20s: require most of them replayed.
	s = l.waitProgress(ctx, t, "site-a reconnected", all, frozen, 8)
	t.Logf("(a) site-a cut off for 20s at %s, reconnected: %s (%s)", frozen, s, time.Since(start).Round(time.Second))

	// (b) Kill the leader's container, then replace it.
	leader = waitLeader(ctx, t, l.api, all, "")
	before := l.snapshot(ctx, t, all)
	l.mustRun(ctx, t, "docker", "kill", l.container(ctx, t, leader))
	rest := map[string]string{}
	for id, base := range all {
		if id != leader {
			rest[id] = base
		}
	}
	next := waitLeader(ctx, t, l.api, rest, leader)
	s = l.waitProgress(ctx, t, "after killing the leader", rest, before, 3)
	t.Logf("(b) killed leader %s, new leader %s: %s (%s)", leader, next, s, time.Since(start).Round(time.Second))
	l.dc(ctx, t, "rm", "-f", "-s", leader)
	l.dc(ctx, t, "up", "-d", "--no-deps", leader)
	l.waitCluster(ctx, t, all)
	before = l.snapshot(ctx, t, all)
	s = l.waitProgress(ctx, t, "after replacing the old leader", all, before, 2)
	t.Logf("(b) %s replaced and rejoined: %s (%s)", leader, s, time.Since(start).Round(time.Second))

	// (c) Rolling restart, one controller at a time, agents streaming.
	before = l.snapshot(ctx, t, all)
	for _, c := range ctrls {
		l.mustRun(ctx, t, "docker", "restart", "-t", "30", l.container(ctx, t, c))
		l.waitCluster(ctx, t, all)
		t.Logf("(c) restarted %s, cluster healthy (%s)", c, time.Since(start).Round(time.Second))
	}
	s = l.waitProgress(ctx, t, "after the rolling restart", all, before, 3)
	t.Logf("(c) rolling restart done: %s -> %s (%s)", before, s, time.Since(start).Round(time.Second))

	// Nothing was dropped from any spool.
	body := l.get(ctx, t, all, "/v1/findings?stale=true")
	if bytes.Contains(body, []byte("AGENT_SPOOL_LOSS")) {
		t.Errorf("AGENT_SPOOL_LOSS reported: %s", tail(string(body), 2000))
	}
}

// composeLab drives one compose project of deploy/compose with its own
// image tag and published ports.
type composeLab struct {
	root, project, tag string
	compose            []string
	ports              []string
	env                []string
	api                rest
	scheme             string
	overlays           []string // compose files on top of docker-compose.yml
}

func newLab(t *testing.T, compose []string, name string) *composeLab {
	tag := labImages.build(t)
	l := &composeLab{root: RepoRoot(), project: fmt.Sprintf("mxprobe-%s%d", name, os.Getpid()), tag: tag, compose: compose, ports: freePorts(t, 4), api: plainREST(), scheme: "http"}
	l.env = append(cleanEnv(), "MXPROBE_TAG="+tag, "TAG="+tag, "MXPROBE_LAB_HTTP_1="+l.ports[0],
		"MXPROBE_LAB_HTTP_2="+l.ports[1], "MXPROBE_LAB_HTTP_3="+l.ports[2], "MXPROBE_LAB_GRPC="+l.ports[3])
	return l
}

func (l *composeLab) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = l.root, l.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return string(out), nil
}

func (l *composeLab) mustRun(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := l.run(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (l *composeLab) dcArgs(args ...string) []string {
	full := append(append([]string(nil), l.compose[1:]...), "-p", l.project,
		"-f", filepath.Join(l.root, "deploy", "compose", "docker-compose.yml"))
	for _, o := range l.overlays {
		full = append(full, "-f", filepath.Join(l.root, "deploy", "compose", o))
	}
	return append(full, args...)
}

// secure switches the lab to docker-compose.secure.yml: it mints the
// cluster CA, a certificate per controller (its service name), the agent CA
// and a bootstrap token into a directory the containers (uid 65532) can
// read, and makes the test's REST calls HTTPS with that token.
func (l *composeLab) secure(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	pki, err := clusterpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"controller-1", "controller-2", "controller-3"} {
		if _, _, err := pki.NodeFiles(dir, c, c); err != nil {
			t.Fatal(err)
		}
	}
	// The compose file names them by role.
	for flag, name := range map[string]string{"--tls-ca-file": "ca.pem", "--agent-ca-cert-file": "agent-ca.pem", "--agent-ca-key-file": "agent-ca.key"} {
		if err := os.Rename(pki.Files()[flag], filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		// Lab keys only: readable by the containers' unprivileged user.
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if l.api, err = secureREST(filepath.Join(dir, "ca.pem"), pki.Token); err != nil {
		t.Fatal(err)
	}
	l.scheme = "https"
	l.overlays = append(l.overlays, "docker-compose.secure.yml")
	l.env = append(l.env, "MXPROBE_LAB_SECRETS="+dir, "MXPROBE_LAB_TOKEN="+pki.Token)
}

// joinToken creates a join token for site's agents, usable uses times.
func (l *composeLab) joinToken(ctx context.Context, t *testing.T, nodes map[string]string, site string, uses int) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"kind": "TOKEN_KIND_JOIN", "name": site + "-agents", "site": site, "uses": uses})
	var secret string
	waitFor(ctx, t, "join token for "+site, func() (bool, string) {
		for _, base := range nodes {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := l.api.do(rctx, http.MethodPost, base+"/v1/tokens", body)
			if err != nil {
				cancel()
				continue
			}
			var r struct {
				Secret string `json:"secret"`
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			cancel()
			if resp.StatusCode == http.StatusOK && err == nil && r.Secret != "" {
				secret = r.Secret
				return true, ""
			}
			return false, fmt.Sprintf("POST /v1/tokens: HTTP %d %v", resp.StatusCode, err)
		}
		return false, "no controller answered"
	})
	return secret
}

func (l *composeLab) dc(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	return l.mustRun(ctx, t, l.compose[0], l.dcArgs(args...)...)
}

// buildAndUp starts the lab from the images newLab built; the cleanup always
// tears everything down (containers, networks, volumes), with a fresh
// context so it runs even after a timeout.
func (l *composeLab) buildAndUp(ctx context.Context, t *testing.T, services ...string) {
	t.Helper()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer ccancel()
		if t.Failed() {
			out, _ := l.run(cctx, l.compose[0], l.dcArgs("logs", "--tail=40")...)
			t.Logf("compose logs:\n%s", tail(out, 12000))
		}
		if out, err := l.run(cctx, l.compose[0], l.dcArgs("down", "-v", "--remove-orphans", "-t", "5")...); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	l.dc(ctx, t, append([]string{"up", "-d"}, services...)...)
}

// nodes maps node id (= compose service) to its published HTTP base.
func (l *composeLab) nodes() map[string]string {
	return map[string]string{
		"controller-1": l.scheme + "://127.0.0.1:" + l.ports[0],
		"controller-2": l.scheme + "://127.0.0.1:" + l.ports[1],
		"controller-3": l.scheme + "://127.0.0.1:" + l.ports[2],
	}
}

func (l *composeLab) container(ctx context.Context, t *testing.T, service string) string {
	t.Helper()
	id := strings.TrimSpace(l.dc(ctx, t, "ps", "-q", service))
	if id == "" || strings.Contains(id, "\n") {
		t.Fatalf("container of %s: %q", service, id)
	}
	return id
}

// network is the Docker name of the compose network (compose v1 and v2 name
// them differently; the labels are the same).
func (l *composeLab) network(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	out := strings.TrimSpace(l.mustRun(ctx, t, "docker", "network", "ls", "--format", "{{.Name}}",
		"--filter", "label=com.docker.compose.project="+composeProjectName(l.project),
		"--filter", "label=com.docker.compose.network="+name))
	if out == "" || strings.Contains(out, "\n") {
		t.Fatalf("network %s of project %s: %q", name, l.project, out)
	}
	return out
}

// composeProjectName is the project name as compose normalises it.
func composeProjectName(p string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return -1
	}, p)
}

// get GETs path from the first node that answers 200 (reads are
// linearizable: a follower forwards them to the leader).
func (l *composeLab) get(ctx context.Context, t *testing.T, nodes map[string]string, path string) []byte {
	t.Helper()
	body, err := getAny(ctx, l.api, nodes, path)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func getAny(ctx context.Context, api rest, nodes map[string]string, path string) ([]byte, error) {
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []string
	for _, id := range ids {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := api.get(rctx, nodes[id]+path)
		if err != nil {
			cancel()
			errs = append(errs, err.Error())
			continue
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return buf.Bytes(), nil
		}
		errs = append(errs, fmt.Sprintf("%s%s: HTTP %d %v", id, path, resp.StatusCode, err))
	}
	return nil, fmt.Errorf("GET %s: %s", path, strings.Join(errs, "; "))
}

// agentCount is one agent's counters from GET /v1/agents.
type agentCount struct{ LastSeq, ResultsCommitted uint64 }

type counts map[string]agentCount

func (c counts) String() string {
	var ids []string
	for id := range c {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d/%d", id, c[id].LastSeq, c[id].ResultsCommitted)
	}
	return b.String()
}

// u64 decodes protojson's uint64 (a JSON string) or a plain number.
type u64 uint64

func (u *u64) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseUint(strings.Trim(string(b), `"`), 10, 64)
	*u = u64(n)
	return err
}

func readCounts(ctx context.Context, api rest, nodes map[string]string) (counts, error) {
	body, err := getAny(ctx, api, nodes, "/v1/agents")
	if err != nil {
		return nil, err
	}
	var r struct {
		Agents []struct {
			AgentID          string `json:"agentId"`
			LastSeq          u64    `json:"lastSeq"`
			ResultsCommitted u64    `json:"resultsCommitted"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("/v1/agents: %w", err)
	}
	c := counts{}
	for _, a := range r.Agents {
		c[a.AgentID] = agentCount{uint64(a.LastSeq), uint64(a.ResultsCommitted)}
	}
	return c, nil
}

// violations is the invariant: every agent known, and
// resultsCommitted == lastSeq * resultsPerBatch.
func (c counts) violations() []string {
	var v []string
	for id, k := range resultsPerBatch {
		a, ok := c[id]
		if !ok {
			continue // not connected yet; progress checks require it
		}
		if a.ResultsCommitted != a.LastSeq*k {
			v = append(v, fmt.Sprintf("%s: resultsCommitted %d != lastSeq %d * %d", id, a.ResultsCommitted, a.LastSeq, k))
		}
	}
	return v
}

// snapshot reads the counters and fails the test on any violation.
func (l *composeLab) snapshot(ctx context.Context, t *testing.T, nodes map[string]string) counts {
	t.Helper()
	var c counts
	waitFor(ctx, t, "GET /v1/agents", func() (bool, string) {
		var err error
		c, err = readCounts(ctx, l.api, nodes)
		return err == nil, fmt.Sprint(err)
	})
	if v := c.violations(); len(v) > 0 {
		t.Fatalf("invariant broken: %s", strings.Join(v, "; "))
	}
	return c
}

// waitProgress waits until every agent's lastSeq is at least delta beyond
// its value in prev (nil: zero), checking the invariant on every read.
func (l *composeLab) waitProgress(ctx context.Context, t *testing.T, step string, nodes map[string]string, prev counts, delta uint64) counts {
	t.Helper()
	var last counts
	waitFor(ctx, t, step+": every agent's lastSeq +"+strconv.FormatUint(delta, 10), func() (bool, string) {
		c, err := readCounts(ctx, l.api, nodes)
		if err != nil {
			return false, err.Error()
		}
		if v := c.violations(); len(v) > 0 {
			t.Fatalf("%s: invariant broken: %s", step, strings.Join(v, "; "))
		}
		last = c
		for id := range resultsPerBatch {
			if c[id].LastSeq < prev[id].LastSeq+delta {
				return false, fmt.Sprintf("%s at %d, want %d (now %s)", id, c[id].LastSeq, prev[id].LastSeq+delta, c)
			}
		}
		return true, ""
	})
	return last
}

// waitCluster waits until every node names the same leader and the leader
// reports every node as a healthy voter.
func (l *composeLab) waitCluster(ctx context.Context, t *testing.T, nodes map[string]string) {
	t.Helper()
	leader := waitLeader(ctx, t, l.api, nodes, "")
	waitFor(ctx, t, "every controller a healthy voter", func() (bool, string) {
		st, err := getStatus(ctx, l.api, nodes[leader])
		if err != nil {
			return false, err.Error()
		}
		healthy := 0
		for _, p := range st.Peers {
			if _, ok := nodes[p.ID]; ok && p.Suffrage == "voter" && p.Healthy {
				healthy++
			}
		}
		return healthy == len(nodes), fmt.Sprintf("%d of %d healthy voters: %+v", healthy, len(nodes), st.Peers)
	})
}

// checkLabFindings: the agents probe real broken SMTP endpoints (the compose
// lab's), so their probe findings reach the controller.
func (l *composeLab) checkLabFindings(ctx context.Context, t *testing.T, nodes map[string]string) {
	t.Helper()
	want := []string{"CERT_EXPIRED", "SMTP_STARTTLS_NOT_OFFERED", "CERT_CHAIN_INCOMPLETE", "CERT_NAME_MISMATCH"}
	waitFor(ctx, t, "SMTP lab findings", func() (bool, string) {
		body, err := getAny(ctx, l.api, nodes, "/v1/findings?stale=true")
		if err != nil {
			return false, err.Error()
		}
		var r struct {
			Findings []struct {
				Check   string `json:"check"`
				Finding struct {
					Code string `json:"code"`
				} `json:"finding"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return false, err.Error()
		}
		got := map[string]bool{}
		for _, f := range r.Findings {
			if f.Check == "smtp_probe" {
				got[f.Finding.Code] = true
			}
		}
		for _, w := range want {
			if !got[w] {
				return false, fmt.Sprintf("no smtp_probe finding %s yet (have %v)", w, got)
			}
		}
		return true, ""
	})
}
