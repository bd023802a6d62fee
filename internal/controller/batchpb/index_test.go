package batchpb

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// checkIndex fails unless IndexIngest, when it accepts in, gives what
// UnmarshalCommand does: the time, the batches' agents, sequences and
// spool losses, and every result (its indexed fields and its decoding).
// It reports whether IndexIngest accepted in.
func checkIndex(t *testing.T, in []byte) bool {
	t.Helper()
	ix, ok := IndexIngest(in)
	if !ok {
		return false
	}
	cmd := &mxv1.Command{}
	if err := UnmarshalCommand(in, cmd); err != nil {
		t.Fatalf("IndexIngest accepted what UnmarshalCommand refuses: %v", err)
	}
	ib := cmd.GetIngestBatches()
	if ib == nil {
		t.Fatal("IndexIngest accepted a command that is not IngestBatches")
	}
	if !proto.Equal(ix.ProposedAt, cmd.GetProposedAt()) {
		t.Fatalf("proposed_at %v, want %v", ix.ProposedAt, cmd.GetProposedAt())
	}
	if len(ix.Batches) != len(ib.GetBatches()) {
		t.Fatalf("%d batches, want %d", len(ix.Batches), len(ib.GetBatches()))
	}
	for i, ab := range ib.GetBatches() {
		got := ix.Batches[i]
		if got.AgentID != ab.GetAgentId() || got.Seq != ab.GetBatch().GetSeq() || !proto.Equal(got.SpoolLoss, ab.GetBatch().GetSpoolLoss()) {
			t.Fatalf("batch %d: %q seq %d loss %v, want %q seq %d loss %v", i, got.AgentID, got.Seq, got.SpoolLoss,
				ab.GetAgentId(), ab.GetBatch().GetSeq(), ab.GetBatch().GetSpoolLoss())
		}
		if len(got.Results) != len(ab.GetBatch().GetResults()) {
			t.Fatalf("batch %d: %d results, want %d", i, len(got.Results), len(ab.GetBatch().GetResults()))
		}
		for j, want := range ab.GetBatch().GetResults() {
			r := &got.Results[j]
			var codes []string
			for _, f := range want.GetFindings() {
				if f.GetSeverity() >= mxv1.Severity_SEVERITY_WARNING {
					codes = append(codes, f.GetCode())
				}
			}
			if r.Check != want.GetCheck() || r.Target != want.GetTarget() || r.Status != want.GetStatus() ||
				r.Findings != len(want.GetFindings()) || !slices.Equal(r.WarningCodes, codes) {
				t.Fatalf("batch %d result %d indexed %q %q %v %d findings %q, want %q %q %v %d %q", i, j, r.Check, r.Target, r.Status, r.Findings, r.WarningCodes,
					want.GetCheck(), want.GetTarget(), want.GetStatus(), len(want.GetFindings()), codes)
			}
			if got := r.Decode(); !proto.Equal(got, want) {
				t.Fatalf("batch %d result %d decodes to\n%v\nwant\n%v", i, j, got, want)
			}
		}
	}
	return true
}

func TestIndexIngestAgreesWithUnmarshalCommand(t *testing.T) {
	if !checkIndex(t, ingestCommand(t, 3)) {
		t.Fatal("IndexIngest refused the leader's layout")
	}
	for name, in := range edgeCases(t) {
		t.Run(name, func(t *testing.T) { checkIndex(t, in) })
	}
}

// The results without a listing are kept as bytes (decoded on read), the
// one with a listing and the "unchanged" flags is decoded at once.
func TestIndexIngestKeepsPlainResultsEncoded(t *testing.T) {
	ix, ok := IndexIngest(ingestCommand(t, 2))
	if !ok {
		t.Fatal("refused")
	}
	first, second := ix.Batches[0].Results, ix.Batches[1].Results
	if first[0].Decoded == nil {
		t.Fatal("the result with a certificate listing was not decoded")
	}
	for _, r := range append(first[1:], second...) {
		if r.Decoded != nil || r.Encoded.Len() == 0 {
			t.Fatalf("result %s %s decoded at once", r.Check, r.Target)
		}
	}
	// Each Decode is a new message (the caller keeps the one it wants).
	if a, b := second[0].Decode(), second[0].Decode(); a == b || !proto.Equal(a, b) {
		t.Fatal("Decode does not give a new equal message each time")
	}
}

// Layouts the leader does not write go to UnmarshalCommand.
func TestIndexIngestRefusesOtherLayouts(t *testing.T) {
	cmd := ingestCommand(t, 1)
	at, err := proto.Marshal(timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := proto.Marshal(&mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: "edge01"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"proposed_at twice":     protowire.AppendBytes(protowire.AppendTag(append([]byte{}, cmd...), commandProposedAt, protowire.BytesType), at),
		"ingest_batches twice":  append(append([]byte{}, cmd...), lastField(t, cmd)...),
		"another command":       hello,
		"no batches":            protowire.AppendBytes(protowire.AppendTag(nil, commandProposedAt, protowire.BytesType), at),
		"unknown command field": protowire.AppendVarint(protowire.AppendTag(append([]byte{}, cmd...), 99, protowire.VarintType), 1),
	} {
		if _, ok := IndexIngest(in); ok {
			t.Errorf("%s: accepted", name)
		}
		checkIndex(t, in)
	}
}

// lastField is the last top-level field of b (tag and value).
func lastField(t *testing.T, b []byte) []byte {
	var last []byte
	for len(b) > 0 {
		_, _, n := protowire.ConsumeField(b)
		if n < 0 {
			t.Fatal("malformed")
		}
		last, b = b[:n], b[n:]
	}
	return last
}

func FuzzIndexIngest(f *testing.F) {
	f.Add(ingestCommand(f, 2))
	for _, in := range edgeCases(f) {
		f.Add(in)
	}
	// Commands around single results of the edge cases.
	for _, in := range edgeCases(f) {
		ab := protowire.AppendBytes(protowire.AppendTag(nil, agentBatchBatch, protowire.BytesType), in)
		ib := protowire.AppendBytes(protowire.AppendTag(nil, ingestBatchesBatches, protowire.BytesType), ab)
		f.Add(protowire.AppendBytes(protowire.AppendTag(nil, commandIngestBatches, protowire.BytesType), ib))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkIndex(t, in) })
}

func BenchmarkIndexIngest(b *testing.B) {
	cmd := ingestCommand(b, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd)))
	start := cpuNow()
	for b.Loop() {
		if _, ok := IndexIngest(cmd); !ok {
			b.Fatal("refused")
		}
	}
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}
