package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// benchBatch is the batch mxbench's simulated agents send (internal/bench):
// 20 results, one finding each with two evidence entries.
func benchBatch(seq uint64) *mxv1.ResultBatch {
	b := &mxv1.ResultBatch{Seq: seq}
	for i := range 20 {
		b.Results = append(b.Results, &mxv1.CheckResult{
			Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_OK,
			Findings: []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091",
				Evidence: map[string]string{"not_after": "2026-12-20T00:00:00Z", "endpoint": "mx.contoso.test:25"}}},
		})
	}
	return b
}

// BenchmarkFollowerApplyIngest is a follower applying IngestBatches
// entries of 100 agents' batches (decode and state update) to a state of
// 1,000 agents x 20 results, as in mxbench's cluster mode. It reports CPU
// per 1,000 results (garbage collection included) next to wall time.
func BenchmarkFollowerApplyIngest(b *testing.B) {
	const agents, perEntry = 1000, 100
	raw, err := proto.Marshal(benchBatch(0))
	if err != nil {
		b.Fatal(err)
	}
	f := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	at := timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	// One round is agents/perEntry entries, one batch of every agent.
	// Each batch starts with its sequence as a four-byte varint (valid
	// protobuf, if not minimal), rewritten in place for the next round.
	padded := func(v uint64) []byte {
		return []byte{0x08, byte(v&0x7f) | 0x80, byte(v>>7&0x7f) | 0x80, byte(v>>14&0x7f) | 0x80, byte(v >> 21 & 0x7f)}
	}
	var entries [][]byte
	var seqAt [][]int
	for e := range agents / perEntry {
		batches := make([]EncodedBatch, perEntry)
		for j := range batches {
			batches[j] = EncodedBatch{AgentID: fmt.Sprintf("agent-%05d", e*perEntry+j), Raw: append(padded(uint64(j+1)), raw...)}
		}
		_, data, err := encodeIngest(at, batches)
		if err != nil {
			b.Fatal(err)
		}
		offs := make([]int, perEntry)
		from := 0
		for j := range offs {
			k := bytes.Index(data[from:], padded(uint64(j+1)))
			if k < 0 {
				b.Fatal("sequence not found in the entry")
			}
			offs[j], from = from+k+1, from+k+5
		}
		entries, seqAt = append(entries, data), append(seqAt, offs)
	}
	round := uint64(0)
	next := func() {
		round++
		for e, data := range entries {
			for _, o := range seqAt[e] {
				copy(data[o:], padded(round)[1:])
			}
		}
	}
	index := uint64(0)
	apply := func() {
		next()
		for _, data := range entries {
			index++
			res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(IngestResult)
			if !res.Applied[0] {
				b.Fatal("a batch was not applied")
			}
		}
	}
	apply() // the state holds every agent's results
	reportApplyCPU(b, apply, agents*20)
}

// reportApplyCPU runs apply (each call applies perCall results) in b's
// loop and reports the CPU per 1,000 results and the allocations.
func reportApplyCPU(b *testing.B, apply func(), perCall int) {
	b.ReportAllocs()
	start := cpuNow()
	n := 0
	for b.Loop() {
		apply()
		n++
	}
	b.ReportMetric(float64(cpuNow()-start)/float64(n*perCall)*1000/1e6, "cpu-ms/1k-results")
}

// BenchmarkLeaderApplyIngest is the leader applying the IngestBatches
// entries it proposed (the command handed over, not decoded) to a state
// of 1,000 agents x 20 results, 100 agents' batches an entry. It reports
// CPU per 1,000 results (garbage collection included).
func BenchmarkLeaderApplyIngest(b *testing.B) {
	const agents, perEntry = 1000, 100
	f := &fsm{state: newState(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), proposed: &proposals{}}
	at := timestamppb.New(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	type entry struct {
		cmd  *mxv1.Command
		data []byte
	}
	var entries []entry
	for e := range agents / perEntry {
		batches := make([]EncodedBatch, perEntry)
		for j := range batches {
			batches[j] = EncodedBatch{AgentID: fmt.Sprintf("agent-%05d", e*perEntry+j), Batch: benchBatch(1)}
		}
		cmd, data, err := encodeIngest(at, batches)
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, entry{cmd, data})
	}
	round, index := uint64(0), uint64(0)
	apply := func() {
		round++
		for _, e := range entries {
			for _, ab := range e.cmd.GetIngestBatches().GetBatches() {
				ab.Batch.Seq = round // the batch itself is not stored
			}
			index++
			forget := f.proposed.add(e.data, e.cmd)
			res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: e.data}).(IngestResult)
			forget()
			if !res.Applied[0] {
				b.Fatal("a batch was not applied")
			}
		}
	}
	apply()
	reportApplyCPU(b, apply, agents*20)
}
