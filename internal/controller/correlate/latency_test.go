package correlate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// TestIncidentLatency (MXPROBE_LATENCY=1): a one-node store with real raft
// on disk, 1,000 agents x 20 checks reporting every 30 s (group-committed
// like ingest), the leader's correlation loop at its default interval; a
// failing result committed at the leader must be visible in its incident
// within 1 s at p99.
func TestIncidentLatency(t *testing.T) {
	if os.Getenv("MXPROBE_LATENCY") == "" {
		t.Skip("set MXPROBE_LATENCY=1 (takes about a minute)")
	}
	const agents, checks, period, probes = 1000, 20, 30 * time.Second, 60
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st, err := store.Open(store.Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: addr, Bootstrap: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for !st.LeaderReady() {
		time.Sleep(10 * time.Millisecond)
	}
	var rounds []time.Duration
	var mu sync.Mutex
	loop := NewLoop(st, LoopConfig{Engine: Config{OpenAfterObservations: 1, SilentAfter: time.Hour}, OnRound: func(s RoundStats) {
		mu.Lock()
		rounds = append(rounds, s.Duration)
		mu.Unlock()
	}})
	st.OnLeadership(loop.Run)

	// 5% of results carry a finding (fleet background), the rest are clean.
	batch := func(a int, seq uint64, extra *mxv1.Finding) *mxv1.AgentBatch {
		b := &mxv1.ResultBatch{Seq: seq, SentAt: timestamppb.Now()}
		for c := range checks {
			r := &mxv1.CheckResult{Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.example:25", c), Status: mxv1.CheckStatus_CHECK_STATUS_OK, StartedAt: timestamppb.Now()}
			if c == 0 && a%20 == 0 {
				r.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
				r.Findings = []*mxv1.Finding{endpointFinding(finding.TLSHandshakeFailed, "mx00.example:25", errS)}
			}
			b.Results = append(b.Results, r)
		}
		if extra != nil {
			b.Results = append(b.Results, &mxv1.CheckResult{Check: "certstore", Target: "store", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, StartedAt: timestamppb.Now(), Findings: []*mxv1.Finding{extra}})
		}
		return &mxv1.AgentBatch{AgentId: fmt.Sprintf("agent%04d", a), Batch: b}
	}
	for a := range agents {
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: fmt.Sprintf("agent%04d", a), Site: fmt.Sprintf("site%d", a%6), Hostname: fmt.Sprintf("agent%04d.contoso.com", a)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := make([]uint64, agents)
	commit := func(abs ...*mxv1.AgentBatch) {
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: abs}}}); err != nil {
			t.Error(err)
		}
	}
	// Background load: every agent once per period, in 10 ms groups.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := agents * int(10*time.Millisecond) / int(period)
		a := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var abs []*mxv1.AgentBatch
			for range max(perTick, 1) {
				seqs[a]++
				abs = append(abs, batch(a, seqs[a], nil))
				a = (a + 1) % agents
			}
			commit(abs...)
		}
	}()
	time.Sleep(3 * time.Second) // let the background load build up state
	var lat []time.Duration
	for i := range probes {
		a := agents + i // its own agent id, so sequences do not race the background writer
		id := fmt.Sprintf("probe%03d", i)
		host := id + ".contoso.com"
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: id, Site: "probe", Hostname: host}}}}); err != nil {
			t.Fatal(err)
		}
		tp := fmt.Sprintf("%040X", a)
		f := storeCertFinding(finding.CertNoPrivateKey, crit, tp, "CN="+host, "CN=CA", host, time.Now().Add(90*24*time.Hour))
		ab := batch(a, 1, f)
		ab.AgentId = id
		commit(ab)
		committed := time.Now()
		fp := incident.Fingerprint(mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, "CERT_NO_PRIVATE_KEY", host+"/"+tp)
		for st.State().Incident(fp) == nil {
			if time.Since(committed) > 10*time.Second {
				t.Fatalf("incident for %s not visible after 10s", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(committed))
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	mu.Lock()
	rs := slices.Clone(rounds)
	mu.Unlock()
	slices.Sort(rs)
	res := len(st.State().CorrelationView().Results)
	t.Logf("commit->incident latency over %d probes: p50 %v p90 %v p99 %v max %v; %d results stored; correlation round p50 %v p99 %v (%d rounds)",
		len(lat), p(0.5), p(0.9), p(0.99), lat[len(lat)-1], res, rs[len(rs)/2], rs[len(rs)*99/100], len(rs))
	if p(0.99) > time.Second {
		t.Errorf("p99 %v exceeds 1s", p(0.99))
	}
}
