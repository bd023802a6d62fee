package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/clusterpki"
	"github.com/mxprobe/mxprobe/internal/lab"
)

type restAgent struct {
	AgentID  string `json:"agentId"`
	Site     string `json:"site"`
	Hostname string `json:"hostname"`
	LastSeq  string `json:"lastSeq"`
}

// agentNamed reads one agent from node i's REST API.
func (cs *controllerSet) agentNamed(i int, id string) (restAgent, bool) {
	code, body := cs.get(i, "/v1/agents")
	var r struct {
		Agents []restAgent `json:"agents"`
	}
	if code != 200 || json.Unmarshal(body, &r) != nil {
		return restAgent{}, false
	}
	for _, a := range r.Agents {
		if a.AgentID == id {
			return a, true
		}
	}
	return restAgent{}, false
}

func (a restAgent) seq() uint64 { n, _ := strconv.ParseUint(a.LastSeq, 10, 64); return n }

// counterSum adds a counter over every node's /metrics.
func (cs *controllerSet) counterSum(t *testing.T, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	var sum float64
	for i := range cs.http {
		code, body := cs.get(i, "/metrics")
		if code != 200 {
			t.Fatalf("node %d /metrics: %d", i, code)
		}
		m := re.FindSubmatch(body)
		if m == nil {
			t.Fatalf("node %d does not expose %s", i, series)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += v
	}
	return sum
}

// TestCrossSiteTakeoverRefusedAcrossProcesses is the takeover from the
// adversarial test, with the real binaries on a 3-node TLS cluster: a00 is
// enrolled in site-a and streaming; a join token of site-b tries to enroll
// --agent-id a00 through every node and is refused (counted, logged
// without the secret); the real a00's batches keep being applied in
// site-a. An admin's re-enrollment token then moves a00 to a new host (a
// new key and state dir), and the agent carries on from its sequence.
func TestCrossSiteTakeoverRefusedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	sec, err := clusterpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	cs := startCluster(t, 3, sec)
	leader := cs.leaderIndex(t, -1)
	caFile := sec.Files()["--tls-ca-file"]
	admin := []string{"MXPROBE_TOKEN=" + sec.Token}
	client := []string{"--server", "https://" + cs.http[leader], "--controller-ca-file", caFile}
	token := func(args ...string) string {
		t.Helper()
		out, err := run(t, admin, "controller", append(append([]string{"tokens", "create"}, args...), client...)...)
		if err != nil {
			t.Fatalf("tokens create %v: %v\n%s", args, err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	siteA := token("site-a", "--kind", "join", "--site", "site-a")
	siteB := token("site-b", "--kind", "join", "--site", "site-b", "--uses", "10")

	labCA, _ := lab.NewCA("e2e lab CA")
	srv, err := lab.Start(t.Context(), lab.Expired, lab.ServerOptions{Hostname: "a00.site-a.test", CA: labCA})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	labCAFile := writeFile(t, filepath.Join(dir, "lab-ca.pem"), labCA.CertPEM())
	agentArgs := func(stateDir string) []string {
		return []string{"--agent-id", "a00", "--controllers", cs.grpc[leader], "--controller-ca-file", caFile, "--state-dir", stateDir}
	}
	// enroll runs agent enroll, again while leadership moves (Unavailable:
	// nothing was decided).
	enroll := func(secret, stateDir, controller string) (string, error) {
		for range 20 {
			out, err := run(t, nil, "agent", append([]string{"enroll", "--token", secret, "--controller", controller}, agentArgs(stateDir)...)...)
			if err == nil || !strings.Contains(out, "Unavailable") {
				return out, err
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatal("agent enroll: no leader answered")
		return "", nil
	}
	runArgs := []string{"run", "--hostname", "a00.site-a.test", "--probe", "smtp://" + srv.Addr(), "--expect-name", "a00.site-a.test", "--ca-file", labCAFile}

	stateA := filepath.Join(dir, "a00")
	if out, err := enroll(siteA, stateA, cs.grpc[leader]); err != nil || !strings.Contains(out, "enrolled a00 in site site-a") {
		t.Fatalf("enroll a00 in site-a: %v\n%s", err, out)
	}
	realAgent := start(t, "agent", append(runArgs, agentArgs(stateA)...)...)
	waitFor(t, 60*time.Second, "a00 streaming in site-a", func() bool {
		a, ok := cs.agentNamed(leader, "a00")
		return ok && a.Site == "site-a" && a.seq() >= 2
	})

	// The attack, through every node (followers forward to the leader).
	for i, addr := range cs.grpc {
		out, err := enroll(siteB, filepath.Join(dir, "attacker", strconvI(i)), addr)
		if err == nil || !strings.Contains(out, "already enrolled") || !strings.Contains(out, "PermissionDenied") {
			t.Fatalf("site-b token enrolling a00 via node %d: %v (want PermissionDenied, already enrolled)\n%s", i, err, out)
		}
	}
	before, _ := cs.agentNamed(leader, "a00")
	waitFor(t, 60*time.Second, "a00's next batches applied after the attack, still in site-a", func() bool {
		a, ok := cs.agentNamed(leader, "a00")
		return ok && a.seq() >= before.seq()+3 && a.Site == "site-a" && a.Hostname == "a00.site-a.test"
	})
	if got := cs.counterSum(t, `mxprobe_agent_identity_refused_total{reason="enroll_id_exists"}`); got != 3 {
		t.Fatalf("refused takeovers counted %v over the cluster, want 3", got)
	}
	var logged bool
	for _, p := range cs.procs {
		out := p.output()
		if strings.Contains(out, siteB) || strings.Contains(out, siteB[strings.LastIndexByte(siteB, '_')+1:]) {
			t.Fatal("a controller logged the join token's secret")
		}
		logged = logged || strings.Contains(out, "enrollment refused: agent identity not the token's to give")
	}
	if !logged {
		t.Fatal("no controller logged the refused takeover")
	}

	// The admin's way: a re-enrollment token for a00; the agent on its new
	// host (new key, new state dir) goes on from the committed sequence.
	re := token("a00-new-host", "--kind", "reenroll", "--agent-id", "a00")
	realAgent.stop(t)
	stateNew := filepath.Join(dir, "a00-new")
	if out, err := enroll(re, stateNew, cs.grpc[(leader+1)%3]); err != nil || !strings.Contains(out, "enrolled a00 in site site-a") {
		t.Fatalf("re-enrollment of a00: %v\n%s", err, out)
	}
	moved, _ := cs.agentNamed(leader, "a00")
	start(t, "agent", append(runArgs, agentArgs(stateNew)...)...)
	waitFor(t, 60*time.Second, "re-enrolled a00 streaming past its old sequence", func() bool {
		a, ok := cs.agentNamed(leader, "a00")
		return ok && a.seq() >= moved.seq()+2 && a.Site == "site-a"
	})
	// The certificate of the old host no longer connects.
	old := start(t, "agent", append(runArgs, agentArgs(stateA)...)...)
	waitFor(t, 60*time.Second, "the superseded certificate refused", func() bool {
		return strings.Contains(old.output(), "superseded")
	})
}

func strconvI(i int) string { return strconv.Itoa(i) }
