package correlate

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// agentRound commits one agent round: these results, and the agent's
// last_batch_at moves to now (as the FSM does for every batch).
func (fl *simFleet) agentRound(agentID string, rs ...*mxv1.CheckResult) {
	for _, r := range rs {
		fl.report(agentID, r)
	}
	a := proto.CloneOf(fl.Agents[agentID])
	a.LastBatchAt = timestamppb.New(fl.Now)
	fl.Agents[agentID] = a
}

func queueClean() *mxv1.CheckResult { return &mxv1.CheckResult{Check: "queue", Target: "local"} }

func keylessResult(fl *simFleet, id string) *mxv1.CheckResult {
	f := storeCertFinding(finding.CertNoPrivateKey, crit, "B79D", "CN=mail.contoso.com", "CN=Contoso CA", fl.Agents[id].GetHostname(), t0.Add(300*24*time.Hour))
	return &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}}
}

// An incident whose check the agent stops running (the store check removed
// from its configuration) resolves after ResolveAfterClean rounds of that
// agent; its stale failing result no longer counts as current.
func TestIncidentOfACheckNoLongerRunResolves(t *testing.T) {
	cfg := Config{OpenAfterObservations: 2, OpenAfter: time.Hour, ResolveAfterClean: 2, ReopenWindow: time.Hour, SilentAfter: 24 * time.Hour}
	fl := threeSites()
	stored := map[string]*mxv1.Incident{}
	for range 2 {
		fl.Now = fl.Now.Add(time.Minute)
		fl.agentRound("ams-edge01", keylessResult(fl, "ams-edge01"), queueClean())
		fl.run(t, cfg, stored)
	}
	inc := only(t, stored)
	if inc.GetState() != stateOpen {
		t.Fatalf("after two rounds: %v", inc.GetState())
	}
	// The agent keeps reporting, without the certstore check.
	for i := 1; i <= 2; i++ {
		fl.Now = fl.Now.Add(time.Minute)
		fl.agentRound("ams-edge01", queueClean())
		fl.run(t, cfg, stored)
		// Rounds without a newer batch change nothing.
		if out := fl.run(t, cfg, stored); !out.Empty() {
			t.Fatalf("idempotent round changed %d incidents", len(out.Upserts))
		}
		want := stateOpen
		if i == 2 {
			want = stateResolve
		}
		if s := stored[inc.GetId()].GetState(); s != want {
			t.Fatalf("after %d rounds without the check: %v, want %v", i, s, want)
		}
	}
	// A silent agent's last results stay current (AGENT_SILENT covers it):
	// without a newer round nothing is retired.
	fl2 := threeSites()
	stored2 := map[string]*mxv1.Incident{}
	for range 2 {
		fl2.Now = fl2.Now.Add(time.Minute)
		fl2.agentRound("ams-edge01", keylessResult(fl2, "ams-edge01"))
		fl2.run(t, cfg, stored2)
	}
	fl2.Now = fl2.Now.Add(10 * time.Minute)
	fl2.run(t, cfg, stored2)
	if s := only(t, stored2).GetState(); s != stateOpen {
		t.Fatalf("agent quiet for 10 minutes: %v, want still open", s)
	}
}

// AGENT_SPOOL_LOSS is reported in one round only: it opens at once (no
// damping) and resolves after ResolveAfterClean later rounds.
func TestSpoolLossOpensAtOnceAndResolves(t *testing.T) {
	cfg := Config{OpenAfterObservations: 2, OpenAfter: time.Hour, ResolveAfterClean: 2, ReopenWindow: time.Hour, SilentAfter: 24 * time.Hour}
	fl := threeSites()
	stored := map[string]*mxv1.Incident{}
	loss := &mxv1.CheckResult{Check: "agent_spool", Target: "spool", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{{
		Code: string(finding.AgentSpoolLoss), Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "ams-edge01", SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_HOST,
		Evidence: map[string]string{"dropped_batches": "12"}}}}
	fl.Now = fl.Now.Add(time.Minute)
	fl.agentRound("ams-edge01", loss, queueClean())
	fl.run(t, cfg, stored)
	inc := only(t, stored)
	if inc.GetState() != stateOpen || inc.GetCause() != string(finding.AgentSpoolLoss) {
		t.Fatalf("spool loss: %v %s", inc.GetState(), inc.GetCause())
	}
	for i := 1; i <= 2; i++ {
		fl.Now = fl.Now.Add(time.Minute)
		fl.agentRound("ams-edge01", queueClean())
		fl.run(t, cfg, stored)
	}
	if s := stored[inc.GetId()].GetState(); s != stateResolve {
		t.Fatalf("two rounds after the loss: %v, want resolved", s)
	}
}
