package store

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func testBatch(seq uint64) *mxv1.ResultBatch {
	return &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{
		Check: "smtp_probe", Target: "smtp://mx.contoso.test:25", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_ERROR,
			Evidence: map[string]string{"a": "1", "b": "2", "c": "3", "endpoint": "mx.contoso.test:25"}}},
	}}}
}

// Without raw bytes the hand-written encoding is byte for byte what
// encodeCommand writes; with the agent's bytes it decodes to the same
// command.
func TestEncodeIngestMatchesEncodeCommand(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 2, 10, 0, 0, 5, time.UTC))
	var plain, carried []EncodedBatch
	for i, id := range []string{"edge01", "", "mbx02"} {
		b := testBatch(uint64(i + 1))
		raw, err := proto.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, EncodedBatch{AgentID: id, Batch: b})
		carried = append(carried, EncodedBatch{AgentID: id, Batch: b, Raw: raw})
	}
	cmd, got, err := encodeIngest(at, plain)
	if err != nil {
		t.Fatal(err)
	}
	want, err := encodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeIngest without raw bytes:\n%x\nencodeCommand:\n%x", got, want)
	}
	cmd2, got2, err := encodeIngest(at, carried)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(cmd, cmd2) {
		t.Fatal("the command differs with raw bytes")
	}
	dec, err := decodeCommand(got2)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec, cmd2) {
		t.Fatalf("decoded %v, want %v", dec, cmd2)
	}
	total := 0
	for _, e := range carried {
		total += e.Size()
	}
	if total < len(got2)-32 {
		t.Fatalf("sizes add up to %d, entry is %d bytes", total, len(got2))
	}
}

// A follower applies the carried bytes exactly as the leader applies the
// command it proposed.
func TestApplyIngestReplicatesCarriedBytes(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	b := testBatch(1)
	raw, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	cmd, data, err := encodeIngest(at, []EncodedBatch{{AgentID: "edge01", Batch: b, Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	leader, follower := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}, &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	leader.proposed = &proposals{}
	forget := leader.proposed.add(data, cmd)
	defer forget()
	lr := leader.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(IngestResult)
	fr := follower.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(IngestResult)
	if len(lr.Applied) != 1 || !lr.Applied[0] || len(fr.Applied) != 1 || !fr.Applied[0] {
		t.Fatalf("applied: leader %v follower %v", lr.Applied, fr.Applied)
	}
	ls, fs := leader.state.snapshot(), follower.state.snapshot()
	if !proto.Equal(ls, fs) {
		t.Fatalf("replicas differ:\n%v\n%v", ls, fs)
	}
	if len(fs.GetResults()) != 1 || fs.GetAgents()[0].GetLastSeq() != 1 {
		t.Fatalf("follower state %v", fs)
	}
}

// ApplyIngestEntries proposes each element as a raft entry of its own and
// answers each; a restart replays the same state from the log.
func TestApplyIngestEntriesCommitsEachEntry(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	s := openTestStore(t, dir, addr)
	entries := [][]EncodedBatch{
		{{AgentID: "edge01", Batch: testBatch(1)}, {AgentID: "edge01", Batch: testBatch(2)}},
		{{AgentID: "edge02", Batch: testBatch(1)}},
		{{AgentID: "edge03", Batch: testBatch(7)}, {AgentID: "edge04", Batch: testBatch(1)}},
	}
	for i := range entries[2] {
		raw, err := proto.Marshal(entries[2][i].Batch)
		if err != nil {
			t.Fatal(err)
		}
		entries[2][i].Raw = raw
	}
	before := s.raft.LastIndex()
	errs := s.ApplyIngestEntries(context.Background(), entries)
	if len(errs) != 3 || errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors %v, want three nil", errs)
	}
	// The ingest entries in the log, whatever else (a no-op, a
	// configuration change) raft appended around them: one per element,
	// in order, each with that element's batches.
	if got, want := ingestEntryAgents(t, s, before), [][]string{{"edge01", "edge01"}, {"edge02"}, {"edge03", "edge04"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("ingest entries appended (their batches' agents): %v, want %v", got, want)
	}
	want := map[string]uint64{"edge01": 2, "edge02": 1, "edge03": 7, "edge04": 1}
	check := func(st *State, when string) {
		t.Helper()
		for id, seq := range want {
			if got := st.Agent(id).GetLastSeq(); got != seq {
				t.Fatalf("%s: %s last seq %d, want %d", when, id, got, seq)
			}
		}
	}
	check(s.State(), "applied")
	snap := s.State().snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestStore(t, dir, addr)
	defer s2.Close()
	deadline := time.Now().Add(time.Minute) // a hang guard
	for s2.State().Agent("edge04").GetLastSeq() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	check(s2.State(), "replayed")
	if !proto.Equal(snap, s2.State().snapshot()) {
		t.Fatal("the state replayed from the log differs from the state the leader applied")
	}
}

// ingestEntryAgents lists the IngestBatches entries in s's raft log after
// index after, each as its batches' agent ids.
func ingestEntryAgents(t *testing.T, s *Store, after uint64) [][]string {
	t.Helper()
	var out [][]string
	for i := after + 1; i <= s.raft.LastIndex(); i++ {
		var l raft.Log
		if err := s.logs.GetLog(i, &l); err != nil {
			t.Fatalf("raft log entry %d: %v", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		cmd, err := decodeCommand(l.Data)
		if err != nil {
			t.Fatalf("raft log entry %d: %v", i, err)
		}
		ib := cmd.GetIngestBatches()
		if ib == nil {
			continue
		}
		agents := []string{}
		for _, b := range ib.GetBatches() {
			agents = append(agents, b.GetAgentId())
		}
		out = append(out, agents)
	}
	return out
}
