package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/portalloc"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ports never hands out the same port twice in this test binary.
var ports portalloc.Allocator

func freePort(t *testing.T) string { return ports.Port(t) }

func openTestStore(t *testing.T, dir, addr string) *Store {
	t.Helper()
	s, err := Open(Config{
		NodeID: "n1", DataDir: dir, RaftBind: addr, Bootstrap: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !s.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("single node never became leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func batch(agent string, seq uint64, code string) *mxv1.AgentBatch {
	return &mxv1.AgentBatch{AgentId: agent, Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{
		Check: "certstore", Target: "pemdir:/x", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: code, Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D" + fmt.Sprint(seq)}},
	}}}}
}

func ingestCmd(bs ...*mxv1.AgentBatch) *mxv1.Command {
	return &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: bs}}}
}

func TestApplyIsIdempotentBySequence(t *testing.T) {
	s := openTestStore(t, t.TempDir(), freePort(t))
	defer s.Close()
	ctx := context.Background()
	hello := &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: "edge02", Site: "ams", Hostname: "edge02.contoso.com"}}}}
	if _, err := s.Apply(ctx, hello); err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(ctx, ingestCmd(batch("edge02", 1, "CERT_NO_PRIVATE_KEY"), batch("edge02", 2, "CERT_EXPIRED")))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.(IngestResult).Applied; len(got) != 2 || !got[0] || !got[1] {
		t.Fatalf("applied = %v", got)
	}
	// Replays of seq 1 and 2 are recognised; seq 3 is new.
	res, err = s.Apply(ctx, ingestCmd(batch("edge02", 2, "CERT_EXPIRED"), batch("edge02", 1, "X_REPLAY"), batch("edge02", 3, "CERT_EXPIRED")))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.(IngestResult).Applied; got[0] || got[1] || !got[2] {
		t.Fatalf("applied = %v, want [false false true]", got)
	}
	lastBatch := s.State().Agent("edge02").GetLastBatchAt()
	if lastBatch == nil {
		t.Fatal("ingest did not record the agent's last batch time")
	}
	// A reconnect (Hello again) keeps the agent's counters and the time of
	// its last round (a Hello is not a round).
	time.Sleep(2 * time.Millisecond)
	if _, err := s.Apply(ctx, hello); err != nil {
		t.Fatal(err)
	}
	a := s.State().Agent("edge02")
	if a.GetLastSeq() != 3 || a.GetSite() != "ams" || a.GetResultsCommitted() != 3 {
		t.Fatalf("agent = %v, want last seq 3 and 3 results (replays not counted)", a)
	}
	if !a.GetLastBatchAt().AsTime().Equal(lastBatch.AsTime()) || !a.GetLastSeen().AsTime().After(lastBatch.AsTime()) {
		t.Fatalf("after Hello: last batch %v (was %v), last seen %v", a.GetLastBatchAt().AsTime(), lastBatch.AsTime(), a.GetLastSeen().AsTime())
	}
	fs := s.State().Findings(FindingFilter{})
	if len(fs) != 1 || fs[0].GetFinding().GetCode() != "CERT_EXPIRED" || fs[0].GetSite() != "ams" {
		t.Fatalf("findings = %v (latest result per check+target must win, replays must not)", fs)
	}
}

func TestStateSurvivesRestartAndSnapshot(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	s := openTestStore(t, dir, addr)
	ctx := context.Background()
	for i := uint64(1); i <= 5; i++ {
		if _, err := s.Apply(ctx, ingestCmd(batch("a1", i, "CERT_EXPIRING"), batch("a2", i, "CERT_NO_PRIVATE_KEY"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, ingestCmd(batch("a1", 6, "CERT_EXPIRED"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen with bootstrap still set: must not re-bootstrap, must restore
	// the snapshot and replay the entry after it.
	s2 := openTestStore(t, dir, addr)
	defer s2.Close()
	deadline := time.Now().Add(time.Minute) // a hang guard: a loaded machine only makes this slower
	for s2.State().Agent("a1").GetLastSeq() != 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s2.State().Agent("a1").GetLastSeq(); got != 6 {
		t.Fatalf("a1 last seq after restart = %d, want 6", got)
	}
	if got := s2.State().Agent("a2").GetLastSeq(); got != 5 {
		t.Fatalf("a2 last seq after restart = %d, want 5", got)
	}
	fs := s2.State().Findings(FindingFilter{AgentID: "a1"})
	if len(fs) != 1 || fs[0].GetFinding().GetCode() != "CERT_EXPIRED" {
		t.Fatalf("a1 findings = %v", fs)
	}
}

func TestFSMIsDeterministic(t *testing.T) {
	// Two FSMs fed the same log produce byte-identical snapshots.
	at := timestamppb.New(time.Date(2026, 11, 25, 6, 32, 14, 0, time.UTC))
	var logs []*raft.Log
	for i := uint64(1); i <= 50; i++ {
		cmd := ingestCmd(batch(fmt.Sprintf("agent-%d", i%7), i, fmt.Sprintf("CODE_%d", i%3)), batch("edge", i, "CERT_EXPIRED"))
		cmd.ProposedAt = at
		b, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: i, Type: raft.LogCommand, Data: b})
	}
	snap := func() []byte {
		f := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, l := range logs {
			f.Apply(l)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(f.state.snapshot())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := snap(), snap()
	if string(a) != string(b) {
		t.Fatal("two replicas applying the same log diverged")
	}
}

func TestUnknownCommandStopsTheNode(t *testing.T) {
	f := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// A Command with only proposed_at set: its kind is one this binary does not know.
	b, _ := proto.Marshal(&mxv1.Command{ProposedAt: timestamppb.Now()})
	defer func() {
		if recover() == nil {
			t.Fatal("FSM applied an unknown command kind instead of stopping")
		}
	}()
	f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: b})
}

func TestRejectsUnroutableAdvertise(t *testing.T) {
	_, err := Open(Config{NodeID: "n", DataDir: t.TempDir(), RaftBind: "0.0.0.0:0"})
	if err == nil {
		t.Fatal("accepted 0.0.0.0 as advertise address")
	}
}

func TestRestoreRejectsCorruptSnapshot(t *testing.T) {
	f := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := f.Restore(io.NopCloser(stringReader("\xff\xff\xff garbage"))); err == nil {
		t.Fatal("restored a corrupt snapshot")
	}
}

type stringReader string

func (s stringReader) Read(p []byte) (int, error) {
	if len(s) == 0 {
		return 0, io.EOF
	}
	return copy(p, s), io.EOF
}

func TestAdvertiseMayBeADNSName(t *testing.T) {
	for _, ok := range []string{"mxprobe-0.mxprobe-peers.ns.svc.cluster.local:7402", "10.1.2.3:7402", "[fd00::1]:7402"} {
		if _, err := checkAdvertise(ok); err != nil {
			t.Errorf("%s rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:7402", "[::]:7402", ":7402", "host", "host:0"} {
		if _, err := checkAdvertise(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBackupRestoreAndRecover(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	s := openTestStore(t, dir, addr)
	ctx := context.Background()
	if _, err := s.Apply(ctx, ingestCmd(batch("edge02", 1, "CERT_NO_PRIVATE_KEY"))); err != nil {
		t.Fatal(err)
	}
	backup, err := s.Backup()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh cluster restores the backup through raft.
	s2 := openTestStore(t, t.TempDir(), freePort(t))
	defer s2.Close()
	if err := s2.Restore(ctx, []byte("not a backup \xff\xff")); err == nil {
		t.Fatal("restored garbage")
	}
	if err := s2.Restore(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if fs := s2.State().Findings(FindingFilter{}); len(fs) != 1 || fs[0].GetFinding().GetCode() != "CERT_NO_PRIVATE_KEY" {
		t.Fatalf("restored findings = %v", fs)
	}
	// Quorum-loss recovery rewrites a stopped node's configuration.
	if _, err := s.Apply(ctx, ingestCmd(batch("edge02", 2, "CERT_EXPIRED"))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := Recover(dir, "n1", []raft.Server{{ID: "n1", Address: raft.ServerAddress(addr), Suffrage: raft.Voter}}, quietLog()); err != nil {
		t.Fatal(err)
	}
	s3 := openTestStore(t, dir, addr)
	defer s3.Close()
	deadline := time.Now().Add(time.Minute) // a hang guard: a loaded machine only makes this slower
	for s3.State().Agent("edge02").GetLastSeq() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s3.State().Agent("edge02").GetLastSeq(); got != 2 {
		t.Fatalf("after recovery last seq %d, want 2", got)
	}
	if err := Recover(dir, "n9", []raft.Server{{ID: "n1", Address: "x:1"}}, quietLog()); err == nil {
		t.Fatal("recovered a configuration without this node")
	}
}
