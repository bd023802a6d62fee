package node

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
)

// fleetFamilies are the exporter's families computed from the replicated
// state (docs/operations.md, "Fleet metrics"); the rest of /metrics is
// about the node itself (raft, its own HTTP and gRPC servers).
var fleetFamilies = regexp.MustCompile(`^mxprobe_(certificate_|probe_|findings_open|incidents_open|agent_last_seen_timestamp_seconds|agents|notify_)`)

// fleetSeries is a node's fleet series (sample lines, sorted).
func fleetSeries(t *testing.T, tn *testNode) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(httpGet(t, "http://"+tn.n.HTTPAddr()+"/metrics", 200), "\n") {
		if fleetFamilies.MatchString(l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// Every node, followers included, exports the same fleet series from the
// replicated state, and they agree with what the API answers on that node:
// a Prometheus scraping any pod (or all of them) sees one fleet.
func TestFleetMetricsOnEveryNode(t *testing.T) {
	nodes := newCluster(t, 3, nil, func(c *Config) {
		c.Correlation = correlate.LoopConfig{Interval: 50 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1, SilentAfter: time.Hour}}
	})
	for _, id := range []string{"edge01", "edge02"} {
		reportToLeader(t, nodes, id, 1, "CERT_NO_PRIVATE_KEY")
	}
	l := leader(t, nodes)
	findings := regexp.MustCompile(`^mxprobe_findings_open\{code="CERT_NO_PRIVATE_KEY",host="edge0[12]\.contoso\.com",severity="critical",site="amsterdam"\} 1$`)
	openCritical := regexp.MustCompile(`^mxprobe_incidents_open\{scope="server",severity="critical",state="open"\} (\d+)$`)
	var want []string
	waitUntil(t, 20*time.Second, "the leader exporting both agents' findings and their incidents", func() bool {
		l = leader(t, nodes) // a loaded machine may move leadership
		want = fleetSeries(t, l)
		n, open := 0, "0"
		for _, s := range want {
			if findings.MatchString(s) {
				n++
			}
			if m := openCritical.FindStringSubmatch(s); m != nil {
				open = m[1]
			}
		}
		return n == 2 && open == "2"
	})
	for _, tn := range nodes {
		var got []string
		waitUntil(t, 20*time.Second, "node "+tn.cfg.NodeID+" exporting the leader's fleet", func() bool {
			got = fleetSeries(t, tn)
			return slices.Equal(got, want)
		})
		// Consistent with the API on the same node (answered from its own
		// state: stale=true, no trip to the leader).
		a := do(t, "GET", "http://"+tn.n.HTTPAddr()+`/v1/incidents?stale=true&brief=true&filter=state%20%3D%20%22OPEN%22%20AND%20severity%20%3D%20%22CRITICAL%22`, nil, "")
		var r struct {
			Incidents []struct {
				Scope string `json:"scope"`
			} `json:"incidents"`
		}
		if err := json.Unmarshal(a.body, &r); a.code != 200 || err != nil {
			t.Fatalf("node %s: GET /v1/incidents: %d %s", tn.cfg.NodeID, a.code, a.body)
		}
		server := 0
		for _, inc := range r.Incidents {
			if inc.Scope == "INCIDENT_SCOPE_SERVER" {
				server++
			}
		}
		line := fmt.Sprintf(`mxprobe_incidents_open{scope="server",severity="critical",state="open"} %d`, server)
		if !slices.Contains(got, line) {
			t.Errorf("node %s: the API lists %d open critical server incidents, /metrics lacks %q", tn.cfg.NodeID, server, line)
		}
	}
}

// reportToLeader sends one agent round (batch seq with one critical
// finding) to the current leader, again to the next one if leadership moves
// before it is acknowledged (a loaded machine may elect anew).
func reportToLeader(t *testing.T, nodes []*testNode, agentID string, seq uint64, code string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := func() error {
			st, err := dial(t, leader(t, nodes).n.GRPCAddr()).Connect(t.Context())
			if err != nil {
				return err
			}
			defer func() { _ = st.CloseSend() }()
			if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: agentID, Site: "amsterdam", Hostname: agentID + ".contoso.com"}}}); err != nil {
				return err
			}
			if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
				return fmt.Errorf("hello answered %v %v", m, err)
			}
			b := &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
				Findings: []*mxv1.Finding{{Code: code, Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D0000"}}}}}
			if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err != nil {
				return err
			}
			if m, err := st.Recv(); err != nil || m.GetAck().GetSeq() != seq {
				return fmt.Errorf("batch answered %v %v", m, err)
			}
			return nil
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no leader acknowledged the batch: %v", agentID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
