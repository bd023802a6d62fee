package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/portalloc"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// ports never hands out the same port twice in this test binary.
var ports portalloc.Allocator

func freePort(t *testing.T) string { return ports.Port(t) }

// startNode runs a real one-node controller and returns it once it leads.
func startNode(t *testing.T) *Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Start(ctx, Config{
		NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: freePort(t),
		Plan:   ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second, ProbeTargets: []string{"smtp://mx.contoso.com:25"}},
		Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for !n.Store().LeaderReady() {
		if wctx.Err() != nil {
			t.Fatal("node never led")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

func dial(t *testing.T, addr string) mxv1.AgentServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mxv1.NewAgentServiceClient(conn)
}

func connect(t *testing.T, c mxv1.AgentServiceClient, id string) (mxv1.AgentService_ConnectClient, *mxv1.Welcome) {
	t.Helper()
	st, err := c.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: id, Site: "amsterdam", Hostname: id + ".contoso.com"}}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetWelcome() == nil {
		t.Fatalf("first answer %v, want Welcome", m)
	}
	return st, m.GetWelcome()
}

func sendBatch(t *testing.T, st mxv1.AgentService_ConnectClient, seq uint64, code string) {
	t.Helper()
	b := &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s",
		Status:   mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: code, Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D0000"}}}}}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetAck().GetSeq() != seq {
		t.Fatalf("answer %v, want Ack %d", m, seq)
	}
}

func TestStreamWelcomeAckAndReplay(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.GRPCAddr())
	st, w := connect(t, c, "edge02")
	if w.GetLastCommittedSeq() != 0 || w.GetPlan().GetInterval().AsDuration() != 30*time.Second || len(w.GetPlan().GetProbeTargets()) != 1 {
		t.Fatalf("welcome = %v", w)
	}
	sendBatch(t, st, 1, "CERT_NO_PRIVATE_KEY")
	// Ack means committed: the state already has it.
	if got := n.Store().State().Agent("edge02").GetLastSeq(); got != 1 {
		t.Fatalf("after ack, committed seq = %d", got)
	}
	sendBatch(t, st, 2, "CERT_EXPIRED")
	_ = st.CloseSend()

	// Reconnect: Welcome reports seq 2; replaying 2 is acked but not applied.
	st2, w2 := connect(t, c, "edge02")
	if w2.GetLastCommittedSeq() != 2 {
		t.Fatalf("welcome after reconnect: last committed %d, want 2", w2.GetLastCommittedSeq())
	}
	sendBatch(t, st2, 2, "SHOULD_NOT_APPLY")
	fs := n.Store().State().Findings(storeFilter("edge02"))
	if len(fs) != 1 || fs[0].GetFinding().GetCode() != "CERT_EXPIRED" {
		t.Fatalf("findings after replay = %v", fs)
	}
}

func TestStreamRejectsBadInput(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.GRPCAddr())
	for name, hello := range map[string]*mxv1.Hello{
		"no id":       {Site: "x"},
		"space in id": {AgentId: "edge 02"},
		"id too long": {AgentId: string(make([]byte, 300))},
		"many labels": {AgentId: "a", Labels: manyLabels(100)},
	} {
		st, err := c.Connect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: hello}})
		_, err = st.Recv()
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
	// A batch with seq 0 is refused; the stream ends with InvalidArgument.
	st, _ := connect(t, c, "edge09")
	_ = st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: 0}}})
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("seq 0: err = %v", err)
	}
}

func manyLabels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint(i)] = "v"
	}
	return m
}

func TestGroupCommitBatchesManyAgentsPerEntry(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.GRPCAddr())
	const agents, rounds = 40, 5
	var wg sync.WaitGroup
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := connect(t, c, fmt.Sprintf("agent-%02d", i))
			for seq := uint64(1); seq <= rounds; seq++ {
				sendBatch(t, st, seq, "CERT_EXPIRING")
			}
		}()
	}
	wg.Wait()
	batches := metric(t, n, "mxprobe_batches_committed_total")
	entries := metric(t, n, "mxprobe_ingest_raft_entries_total")
	if batches != agents*rounds {
		t.Fatalf("batches committed = %v, want %d", batches, agents*rounds)
	}
	if entries >= batches {
		t.Fatalf("raft entries = %v for %v batches: no group commit", entries, batches)
	}
	t.Logf("%v batches in %v raft entries", batches, entries)
}

func metric(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	body := httpGet(t, "http://"+n.HTTPAddr()+"/metrics", 200)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not exposed", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func httpGet(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

func TestRESTAPIAndProbes(t *testing.T) {
	n := startNode(t)
	st, _ := connect(t, dial(t, n.GRPCAddr()), "edge02")
	sendBatch(t, st, 1, "CERT_NO_PRIVATE_KEY")
	base := "http://" + n.HTTPAddr()

	var findings struct {
		Findings []struct {
			AgentID string `json:"agentId"`
			Site    string `json:"site"`
			Finding struct {
				Code     string `json:"code"`
				Severity string `json:"severity"`
				Subject  string `json:"subject"`
			} `json:"finding"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, base+"/v1/findings?site=amsterdam&min_severity=SEVERITY_ERROR", 200)), &findings); err != nil {
		t.Fatal(err)
	}
	if len(findings.Findings) != 1 || findings.Findings[0].Finding.Code != "CERT_NO_PRIVATE_KEY" || findings.Findings[0].Finding.Severity != "SEVERITY_CRITICAL" || findings.Findings[0].AgentID != "edge02" {
		t.Fatalf("findings = %+v", findings)
	}
	if body := httpGet(t, base+"/v1/findings?site=london", 200); body != `{"findings":[]}` && body != "{}" {
		t.Fatalf("london findings = %s", body)
	}
	httpGet(t, base+"/v1/findings?min_severity=LOUD", 400)
	if body := httpGet(t, base+"/v1/agents", 200); !regexp.MustCompile(`"agentId":"edge02".*"site":"amsterdam"`).MatchString(body) {
		t.Fatalf("agents = %s", body)
	}
	if body := httpGet(t, base+"/v1/cluster/status", 200); !regexp.MustCompile(`"state":"leader"`).MatchString(body) {
		t.Fatalf("status = %s", body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(httpGet(t, base+"/openapi.json", 200)), &doc); err != nil || doc["paths"] == nil {
		t.Fatalf("openapi.json: %v", err)
	}
	httpGet(t, base+"/healthz", 200)
	httpGet(t, base+"/readyz", 200)
}

func storeFilter(agent string) store.FindingFilter { return store.FindingFilter{AgentID: agent} }
