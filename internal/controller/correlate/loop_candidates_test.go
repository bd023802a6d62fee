package correlate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// watchRig is a real store with agents edge1..edgeN and a committer of
// their certificate store results.
type watchRig struct {
	t    *testing.T
	st   *store.Store
	seqs map[string]uint64
}

func newWatchRig(t *testing.T, agents ...string) *watchRig {
	r := &watchRig{t: t, st: storetest.Open(t), seqs: map[string]uint64{}}
	for _, a := range agents {
		hello := &mxv1.Hello{AgentId: a, Site: "hq", Hostname: a + ".contoso.com"}
		if _, err := r.st.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: hello}}}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// keyless is the finding of a certificate tp without its private key on
// agent's host.
func keyless(agent, tp string) *mxv1.Finding {
	host := agent + ".contoso.com"
	return storeCertFinding(finding.CertNoPrivateKey, crit, tp, "CN="+host, "CN=CA", host, time.Now().Add(90*24*time.Hour))
}

// report commits agent's next round: its certificate store with findings
// (none: clean).
func (r *watchRig) report(agent string, findings ...*mxv1.Finding) {
	r.t.Helper()
	r.seqs[agent]++
	status := mxv1.CheckStatus_CHECK_STATUS_OK
	if len(findings) > 0 {
		status = mxv1.CheckStatus_CHECK_STATUS_FAIL
	}
	b := &mxv1.ResultBatch{Seq: r.seqs[agent], SentAt: timestamppb.Now(), Results: []*mxv1.CheckResult{
		{Check: "certstore", Target: "store", Status: status, StartedAt: timestamppb.Now(), Findings: findings}}}
	if _, err := r.st.Apply(r.t.Context(), &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{AgentId: agent, Batch: b}}}}}); err != nil {
		r.t.Fatal(err)
	}
}

// incidentOf is the stored incident with cause code (nil: none).
func (r *watchRig) incidentOf(code finding.Code) *mxv1.Incident {
	for _, inc := range r.st.State().CorrelationView().Incidents {
		if inc.GetCause() == string(code) {
			return inc
		}
	}
	return nil
}

// The watch finds what could open or reopen an incident in what raft
// applied since its previous scan, and nothing else: a new failing key, a
// new finding code on a failing key, an observation of a PENDING incident's
// member, a failure come back to a resolved incident; not a failure
// reported again whose incident is open, not a clean result, not the
// state it first reads or reads again after a restore.
func TestCandidateWatch(t *testing.T) {
	r := newWatchRig(t, "edge1", "edge2")
	ctx := t.Context()
	loop := NewLoop(r.st, LoopConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	round := func() {
		t.Helper()
		if _, err := loop.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	w := newFeed(Config{}.WithDefaults().MinSeverity)
	scan := func(step string, want bool) {
		t.Helper()
		if got := w.read(r.st.State()); got != want {
			t.Errorf("%s: scan says %v, want %v", step, got, want)
		}
	}
	a := keyless("edge1", "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C")
	r.report("edge2", keyless("edge2", "0A0A6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"))
	scan("first read, a failure already stored", false)
	round()

	r.report("edge1", a)
	scan("a new failing key", true)
	scan("nothing applied since", false)
	round()
	if inc := r.incidentOf(finding.CertNoPrivateKey); inc == nil {
		t.Fatal("no incident after the first failing report")
	}
	scan("the round's own incidents (PENDING)", false)
	r.report("edge2", keyless("edge2", "0A0A6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"))
	scan("edge2 again: its incident is PENDING", true)
	r.report("edge1", a)
	scan("edge1 again: its incident is PENDING", true)
	round()
	for _, inc := range r.st.State().CorrelationView().Incidents {
		if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN {
			t.Fatalf("incident %s is %s after its second observation", inc.GetId(), inc.GetState())
		}
	}
	scan("the round's own incidents (OPEN)", false)
	r.report("edge1", a)
	scan("the same failure, its incident open", false)
	r.report("edge1", a, keyless("edge1", "C0C06C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"))
	scan("another certificate under the same code on a failing check (left to the tick)", false)
	expiring := storeCertFinding(finding.CertExpiring, warn, "C0C06C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C", "CN=edge1.contoso.com", "CN=CA", "edge1.contoso.com", time.Now().Add(5*24*time.Hour))
	r.report("edge1", a, expiring)
	scan("a new finding code on a failing check", true)
	r.report("edge2")
	scan("a clean result", false)

	b, err := r.st.Backup()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.Restore(ctx, b); err != nil {
		t.Fatal(err)
	}
	scan("the state read again after a restore", false)
	r.report("edge1", a, expiring)
	scan("after the restore, the same failure, its incident open", false)

	// edge2's incident resolves after two clean rounds; its failure
	// back counts (a new failing key) and so does the next observation,
	// which reopens it.
	round()
	r.report("edge2")
	round()
	if inc := r.incidentOf(finding.CertNoPrivateKey); inc == nil {
		t.Fatal("incident gone")
	}
	var resolved *mxv1.Incident
	for _, inc := range r.st.State().CorrelationView().Incidents {
		if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
			resolved = inc
		}
	}
	if resolved == nil {
		t.Fatal("edge2's incident did not resolve after two clean reports")
	}
	scan("rounds and clean reports", false)
	r.report("edge2", keyless("edge2", "0A0A6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"))
	scan("edge2's failure back", true)
	round()
	r.report("edge2", keyless("edge2", "0A0A6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"))
	scan("edge2's failure again: its resolved incident counts it towards reopening", true)
	round()
	for _, inc := range r.st.State().CorrelationView().Incidents {
		if inc.GetId() == resolved.GetId() && inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN {
			t.Errorf("edge2's incident is %s after its failure came back twice, want it reopened", inc.GetState())
		}
	}
}

// An incident that stores only some of its members (MaxMembers) waits on
// every failing result of its agents.
func TestCandidateWatchLeftOffMembers(t *testing.T) {
	r := newWatchRig(t, "edge1", "edge2", "edge3")
	loop := NewLoop(r.st, LoopConfig{Engine: Config{MaxMembers: 1}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w := newFeed(Config{}.WithDefaults().MinSeverity)
	w.read(r.st.State())
	// One keyless certificate on three hosts: one certificate incident.
	const tp = "D0D06C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"
	for _, a := range []string{"edge1", "edge2", "edge3"} {
		r.report(a, keyless(a, tp))
	}
	if _, err := loop.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.read(r.st.State())
	inc := r.incidentOf(finding.CertNoPrivateKey)
	if inc == nil || inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_PENDING || len(inc.GetMembers()) >= int(inc.GetMembersTotal()) {
		t.Fatalf("incident %v: want one PENDING incident storing fewer members than it has", inc)
	}
	for _, a := range []string{"edge1", "edge2", "edge3"} {
		r.report(a, keyless(a, tp))
		if !w.read(r.st.State()) {
			t.Errorf("%s reports the certificate again: the watch does not count it for the PENDING incident", a)
		}
	}
}

// A term's first round runs at once, and a new failure and its second
// observation (damping) each get a round of their own between ticks: with
// a tick of an hour, only the watch can explain the rounds that make the
// incident PENDING and then OPEN.
func TestLoopRoundsForCandidatesBetweenTicks(t *testing.T) {
	r := newWatchRig(t, "edge1")
	var rounds atomic.Int64
	loop := NewLoop(r.st, LoopConfig{Interval: time.Hour, IdleInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnRound: func(RoundStats) { rounds.Add(1) }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); loop.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// waitFor is a failure bound, not a timing assertion.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute (%d rounds)", what, rounds.Load())
			}
		}
	}
	waitFor("the term's first round", func() bool { return rounds.Load() >= 1 })
	f := keyless("edge1", "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C")
	state := func(s mxv1.IncidentState) func() bool {
		return func() bool { return r.incidentOf(finding.CertNoPrivateKey).GetState() == s }
	}
	r.report("edge1", f)
	waitFor("the failure PENDING", state(mxv1.IncidentState_INCIDENT_STATE_PENDING))
	r.report("edge1", f)
	waitFor("the failure OPEN on its second observation", state(mxv1.IncidentState_INCIDENT_STATE_OPEN))
	if n := rounds.Load(); n < 3 {
		t.Errorf("%d rounds: want the first and one for each observation", n)
	}
}

// BenchmarkFeedRead: the loop's read between rounds (Run's, every
// candidatePoll) of what 10 agents' rounds of 20 results each (every
// result failing as before) changed, on a store of 1,000 agents, and
// every 12th a round's take; the figure is per read of 200 results.
func BenchmarkFeedRead(b *testing.B) {
	st := storetest.Open(b)
	ctx := context.Background()
	const agents, checks = 1000, 20
	batch := func(a int, seq uint64) *mxv1.AgentBatch {
		rb := &mxv1.ResultBatch{Seq: seq, SentAt: timestamppb.Now()}
		for c := range checks {
			rb.Results = append(rb.Results, &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://mx" + string(rune('a'+c)) + ".contoso.test:25", Status: mxv1.CheckStatus_CHECK_STATUS_OK,
				StartedAt: timestamppb.Now(), Findings: []*mxv1.Finding{endpointFinding(finding.CertExpiring, "mx.contoso.test:25", warn)}})
		}
		return &mxv1.AgentBatch{AgentId: agentName(a), Batch: rb}
	}
	var abs []*mxv1.AgentBatch
	for a := range agents {
		hello := &mxv1.Hello{AgentId: agentName(a), Site: "hq", Hostname: agentName(a) + ".contoso.com"}
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: hello}}}); err != nil {
			b.Fatal(err)
		}
		abs = append(abs, batch(a, 1))
	}
	if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: abs}}}); err != nil {
		b.Fatal(err)
	}
	w := newFeed(warn)
	w.read(st.State())
	seq, next, i := uint64(1), 0, 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		abs = abs[:0]
		for range 10 {
			if next == 0 {
				seq++
			}
			abs = append(abs, batch(next, seq))
			next = (next + 1) % agents
		}
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: abs}}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if w.read(st.State()) {
			b.Fatal("the same failures again: no candidate")
		}
		if i++; i%12 == 0 {
			w.take(st.State())
		}
	}
}

func agentName(a int) string { return fmt.Sprintf("agent%04d", a) }
