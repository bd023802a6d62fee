package store

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func fuzzCommand(tb testing.TB, cmd *mxv1.Command) []byte {
	tb.Helper()
	cmd.ProposedAt = timestamppb.New(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	b, err := encodeCommand(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// applyAll applies the decodable entries to a fresh FSM and returns it; it
// reports whether any entry was decodable. As a leader the FSM is handed
// each command decoded, as the node that proposed it is; otherwise it
// reads the bytes, as a follower or a replay does.
func applyAll(t *testing.T, leader bool, entries ...[]byte) (*fsm, bool) {
	f := &fsm{state: newState(), log: quietLog(), proposed: &proposals{}}
	decoded := false
	for i, e := range entries {
		cmd, err := decodeCommand(e)
		if err != nil {
			continue // Apply refuses these by stopping the node, on purpose
		}
		decoded = true
		if leader {
			e = append([]byte(nil), e...) // a buffer of its own, as a proposal has
			forget := f.proposed.add(e, cmd)
			f.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: e})
			forget()
			continue
		}
		f.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: e})
	}
	return f, decoded
}

// sameObservable fails unless two states answer every read alike: the
// snapshot (as message and as bytes), results, findings and the
// correlation view and feed.
func sameObservable(t *testing.T, what string, a, b *State) {
	t.Helper()
	sa, sb := a.snapshot(), b.snapshot()
	if !proto.Equal(sa, sb) {
		t.Fatalf("%s: snapshots differ:\n%v\n%v", what, sa, sb)
	}
	ba, err := proto.MarshalOptions{Deterministic: true}.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(sb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ba, bb) {
		t.Fatalf("%s: snapshot bytes differ", what)
	}
	ra, _ := a.Results(ResultFilter{}, ResultKey{}, 1<<20)
	rb, _ := b.Results(ResultFilter{}, ResultKey{}, 1<<20)
	fa, fb := a.Findings(FindingFilter{}), b.Findings(FindingFilter{})
	if len(ra) != len(rb) || len(fa) != len(fb) {
		t.Fatalf("%s: %d and %d results, %d and %d findings", what, len(ra), len(rb), len(fa), len(fb))
	}
	for i := range ra {
		if !proto.Equal(ra[i], rb[i]) {
			t.Fatalf("%s: result %d:\n%v\n%v", what, i, ra[i], rb[i])
		}
	}
	for i := range fa {
		if !proto.Equal(fa[i], fb[i]) {
			t.Fatalf("%s: finding %d:\n%v\n%v", what, i, fa[i], fb[i])
		}
	}
	ca, cb := a.CorrelationChanges(ChangeCursor{}), b.CorrelationChanges(ChangeCursor{})
	va, vb := ca.View.Results, cb.View.Results
	if len(va) != len(vb) {
		t.Fatalf("%s: correlation views of %d and %d results", what, len(va), len(vb))
	}
	sortStored := func(rs []*mxv1.StoredResult) {
		slices.SortFunc(rs, func(x, y *mxv1.StoredResult) int {
			return ResultKey{x.GetAgentId(), x.GetResult().GetCheck(), x.GetResult().GetTarget()}.compare(ResultKey{y.GetAgentId(), y.GetResult().GetCheck(), y.GetResult().GetTarget()})
		})
	}
	sortStored(va)
	sortStored(vb)
	for i := range va {
		if !proto.Equal(va[i], vb[i]) {
			t.Fatalf("%s: correlation view result %d:\n%v\n%v", what, i, va[i], vb[i])
		}
	}
	// A result read twice is the same message (the correlation engine
	// keys its state by the pointer).
	again := b.CorrelationView().Results
	sortStored(again)
	for i := range again {
		if again[i] != vb[i] {
			t.Fatalf("%s: result %d read twice is two messages", what, i)
		}
	}
}

// FuzzApplyCommands: raft entries (bytes from the log, from peers and from
// backups) decode or are refused with an error; a decodable command of a
// known kind applies without panicking, every replica that applies the same
// entries ends in the same state (the FSM is deterministic), and that state
// survives a raft snapshot and restore unchanged.
func FuzzApplyCommands(f *testing.F) {
	hello := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: "edge01", Site: "amsterdam", Hostname: "edge01.contoso.com", Labels: map[string]string{"a": "b"}}}}})
	batch := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{AgentId: "edge01", Batch: &mxv1.ResultBatch{Seq: 1,
		Results: []*mxv1.CheckResult{{Check: "smtp_probe", Target: "smtp://mx.contoso.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_ERROR,
			Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "AB"}}}}}}, {AgentId: "ghost", Batch: &mxv1.ResultBatch{Seq: 7}}}}}})
	token := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_CreateToken{CreateToken: &mxv1.CreateToken{Token: &mxv1.Token{Id: "0123456789abcdef", Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Name: "j", Site: "amsterdam"}}}})
	consume := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_ConsumeJoinToken{ConsumeJoinToken: &mxv1.ConsumeJoinToken{Id: "0123456789abcdef"}}})
	revoke := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_RevokeAgent{RevokeAgent: &mxv1.RevokeAgent{AgentId: "edge01"}}})
	incident := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "inc-0123456789abcdef-1", Fingerprint: "0123456789abcdef", Cause: "CERT_EXPIRED", Sequence: 1, State: mxv1.IncidentState_INCIDENT_STATE_OPEN}},
		Deletes: []*mxv1.IncidentRef{{Id: "inc-x", Sequence: 3}}}}})
	ack := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_IncidentAction{IncidentAction: &mxv1.IncidentAction{IncidentId: "inc-0123456789abcdef-1", Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "oncall", ExpectedSequence: 1,
		Idempotency: &mxv1.Idempotency{Scope: []byte("0123456789abcdef0123456789abcdef"), RequestDigest: []byte("d")}}}})
	snap, _ := func() (*mxv1.StateSnapshot, bool) {
		g := &fsm{state: newState(), log: quietLog()}
		for i, e := range [][]byte{hello, batch, token, incident} {
			g.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: e})
		}
		return g.state.snapshot(), true
	}()
	restore := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_RestoreState{RestoreState: &mxv1.RestoreState{Snapshot: snap}}})
	reports := fuzzCommand(f, &mxv1.Command{ProposedAt: timestamppb.New(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)), Kind: &mxv1.Command_IngestTlsReports{IngestTlsReports: &mxv1.IngestTLSReports{
		Reports: []*mxv1.TLSReport{{ReportId: "r1", Start: timestamppb.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)), End: timestamppb.New(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)),
			Policies: []*mxv1.TLSReportPolicy{{PolicyType: "sts", PolicyDomain: "contoso.com", FailedSessions: 3, Failures: []*mxv1.TLSReportFailure{{ResultType: "certificate-expired", ReceivingMxHostname: "mx.contoso.com", FailedSessions: 3}}}}}}}}})
	age := fuzzCommand(f, &mxv1.Command{ProposedAt: timestamppb.New(time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)), Kind: &mxv1.Command_AgeTlsReportResults{AgeTlsReportResults: &mxv1.AgeTLSReportResults{}}})
	members := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "inc-a", Revision: 1,
		Agents: []string{"edge01", "edge02"}, Remediation: "Renew it on edge01, edge02.", Members: []*mxv1.IncidentMember{{AgentId: "edge01"}, {AgentId: "edge02"}}}}}}})
	delta := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_CorrelateIncidentsDelta{CorrelateIncidentsDelta: &mxv1.CorrelateIncidentsDelta{Upserts: []*mxv1.IncidentUpsert{{
		Incident: &mxv1.Incident{Id: "inc-a", Revision: 2}, KeptFields: []uint32{17}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 1, Count: 1, Added: []*mxv1.IncidentMember{{AgentId: "edge03"}}}},
		AgentRuns: []*mxv1.StringRun{{From: 0, Count: 2}}, RemediationRuns: []*mxv1.StringRun{{From: 3, Count: 2, Added: []string{"edge03."}}}}}}}})
	f.Add(members, delta)
	f.Add(reports, age)
	f.Add(hello, batch)
	f.Add(token, consume)
	f.Add(batch, revoke)
	f.Add(incident, ack)
	f.Add(restore, batch)
	f.Add(hello, restore)
	f.Add([]byte{}, []byte{0x12, 0x00})
	f.Add([]byte{0xff, 0xff}, []byte{0xa2, 0x01, 0x02, 0x0a, 0x00})
	listed := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{AgentId: "mbx01", Batch: &mxv1.ResultBatch{Seq: 1,
		Results: []*mxv1.CheckResult{{Check: "certstore", Target: "LocalMachine/My", Status: mxv1.CheckStatus_CHECK_STATUS_OK,
			Certificates:      []*mxv1.CertificateSummary{{Thumbprint: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091", Subject: "CN=mail"}},
			ExchangeInventory: []byte(`{"connectors":[]}`)},
			{Check: "smtp_probe", Target: "smtp://mx.contoso.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
				Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_ERROR, Evidence: map[string]string{"endpoint": "mx.contoso.com:25"}},
					{Code: "TLS_WEAK", Severity: mxv1.Severity_SEVERITY_WARNING}, {Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_CRITICAL}, {Code: "NOTE", Severity: mxv1.Severity_SEVERITY_INFO}}}}}}}}}})
	unchanged := fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{AgentId: "mbx01", Batch: &mxv1.ResultBatch{Seq: 2,
		SpoolLoss: &mxv1.SpoolLoss{DroppedFull: 2, Results: 40},
		Results: []*mxv1.CheckResult{{Check: "certstore", Target: "LocalMachine/My", Status: mxv1.CheckStatus_CHECK_STATUS_OK, CertificatesUnchanged: true, ExchangeInventoryUnchanged: true},
			{Check: "smtp_probe", Target: "smtp://mx.contoso.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_OK}}}}, {AgentId: "mbx01", Batch: &mxv1.ResultBatch{Seq: 2}}}}}})
	f.Add(listed, unchanged)
	f.Add(unchanged, listed)
	f.Add(batch, batch)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		one, ok := applyAll(t, false, a, b)
		if !ok {
			return
		}
		two, _ := applyAll(t, false, a, b)
		sameObservable(t, "two followers", one.state, two.state)
		lead, _ := applyAll(t, true, a, b)
		sameObservable(t, "leader and follower", lead.state, one.state)
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(one.state.snapshot())
		if err != nil {
			t.Fatal(err)
		}
		r := &fsm{state: newState(), log: quietLog()}
		if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			t.Fatalf("restoring a snapshot the FSM wrote: %v", err)
		}
		sameObservable(t, "restored and follower", r.state, one.state)
	})
}

// FuzzRestoreSnapshot: whatever a snapshot file (or an uploaded backup)
// holds, Restore either refuses it or yields a state that snapshots and
// restores to itself.
func FuzzRestoreSnapshot(f *testing.F) {
	g := &fsm{state: newState(), log: quietLog()}
	g.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: fuzzCommand(f, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: "edge01", Site: "amsterdam"}}}})})
	b, err := proto.Marshal(g.state.snapshot())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	var streamed bytes.Buffer
	if err := writeSnapshot(&streamed, g.state.snapshot()); err != nil {
		f.Fatal(err)
	}
	f.Add(streamed.Bytes())
	f.Add([]byte(snapStreamMagic + "\x02\x0a\x00\xff"))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fsm{state: newState(), log: quietLog()}
		if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		one := r.state.snapshot()
		out, err := proto.MarshalOptions{Deterministic: true}.Marshal(one)
		if err != nil {
			t.Fatal(err)
		}
		s := &fsm{state: newState(), log: quietLog()}
		if err := s.Restore(io.NopCloser(bytes.NewReader(out))); err != nil {
			t.Fatalf("restoring what the FSM wrote: %v", err)
		}
		if !proto.Equal(s.state.snapshot(), one) {
			t.Fatal("restored state does not survive a second snapshot and restore")
		}
	})
}
