package store

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// TestSnapshotStreamRoundTrip: a state with more agents and results than
// one fragment holds comes back identical from the streamed form, and the
// older single-message form is still read.
func TestSnapshotStreamRoundTrip(t *testing.T) {
	snap := &mxv1.StateSnapshot{Nodes: []*mxv1.NodeInfo{{NodeId: "n1"}}, Incidents: []*mxv1.Incident{{Id: "i1"}}}
	for i := range 2*snapFragmentItems + 7 {
		id := fmt.Sprintf("edge%05d", i)
		snap.Agents = append(snap.Agents, &mxv1.Agent{AgentId: id, Site: "ams", LastSeq: uint64(i)})
		snap.Results = append(snap.Results, &mxv1.StoredResult{AgentId: id, Result: &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/x"}})
	}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Agents) != 2*snapFragmentItems+7 || len(snap.Results) != 2*snapFragmentItems+7 {
		t.Fatal("writeSnapshot did not leave the snapshot as it was")
	}
	got, err := readSnapshot(bytes.NewReader(buf.Bytes()), maxSnapshotBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, snap) {
		t.Fatal("streamed snapshot does not round-trip")
	}
	legacy, err := proto.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readSnapshot(bytes.NewReader(legacy), maxSnapshotBytes)
	if err != nil || !proto.Equal(got, snap) {
		t.Fatalf("single-message snapshot: %v", err)
	}
	// Truncated streams are refused, not half restored.
	if _, err := readSnapshot(bytes.NewReader(buf.Bytes()[:buf.Len()-3]), maxSnapshotBytes); err == nil {
		t.Fatal("read a truncated snapshot")
	}
}
