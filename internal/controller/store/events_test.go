package store

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

func applyCmd(t *testing.T, f *fsm, idx uint64, cmd *mxv1.Command) any {
	t.Helper()
	b, err := encodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
}

// The feed is a pure function of the applied commands: types, order,
// cursors, compaction and snapshot round trip.
func TestIncidentEventsFromCommands(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	inc := func(seq uint64, st mxv1.IncidentState, sev mxv1.Severity, summary string) *mxv1.Incident {
		return &mxv1.Incident{Id: "inc-1", Fingerprint: "fp", Sequence: seq, State: st, Severity: sev, Summary: summary}
	}
	corr := func(i *mxv1.Incident) *mxv1.Command {
		return &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{i}}}}
	}
	f := &fsm{state: newState(), log: quietLog()}
	open, ack := mxv1.IncidentState_INCIDENT_STATE_OPEN, mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
	crit := mxv1.Severity_SEVERITY_CRITICAL
	applyCmd(t, f, 1, corr(inc(1, mxv1.IncidentState_INCIDENT_STATE_PENDING, crit, "a"))) // no event
	applyCmd(t, f, 2, corr(inc(2, open, crit, "a")))                                      // opened
	applyCmd(t, f, 3, corr(inc(3, open, crit, "a")))                                      // nothing visible
	applyCmd(t, f, 4, corr(inc(4, open, crit, "b")))                                      // updated
	applyCmd(t, f, 5, corr(inc(4, open, crit, "c")))                                      // rejected (stale)
	applyCmd(t, f, 6, corr(inc(5, ack, crit, "b")))                                       // acknowledged
	evs, compacted, last, err := f.state.Events(0, 0)
	if err != nil || compacted != 0 || last != 3 || len(evs) != 3 {
		t.Fatalf("events %v compacted %d last %d err %v", evs, compacted, last, err)
	}
	for i, want := range []string{incident.EventOpened, incident.EventUpdated, incident.EventAcknowledged} {
		if evs[i].GetType() != want || evs[i].GetCursor() != uint64(i+1) || !proto.Equal(evs[i].GetTime(), at) {
			t.Fatalf("event %d: %v", i, evs[i])
		}
	}
	// Snapshot round trip.
	g := &fsm{state: newState(), log: quietLog()}
	g.state.restore(f.state.snapshot())
	evs2, _, last2, _ := g.state.Events(1, 0)
	if last2 != 3 || len(evs2) != 2 || !proto.Equal(evs2[0], evs[1]) {
		t.Fatalf("restored %v last %d", evs2, last2)
	}
	// Compaction.
	f.state.events.max = 2
	applyCmd(t, f, 7, corr(inc(6, mxv1.IncidentState_INCIDENT_STATE_RESOLVED, crit, "b")))
	if _, c, _, err := f.state.Events(1, 0); !errors.Is(err, ErrCursorCompacted) || c != 2 {
		t.Fatalf("after 1: compacted %d err %v", c, err)
	}
	if evs, _, _, err := f.state.Events(2, 0); err != nil || len(evs) != 2 || evs[1].GetType() != incident.EventResolved {
		t.Fatalf("after 2: %v %v", evs, err)
	}
	// A restored backup compacts the whole feed; cursors keep rising.
	applyCmd(t, f, 8, &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_RestoreState{RestoreState: &mxv1.RestoreState{Snapshot: g.state.snapshot()}}})
	if _, c, l, err := f.state.Events(3, 0); !errors.Is(err, ErrCursorCompacted) || c != 4 || l != 4 {
		t.Fatalf("after restore: compacted %d last %d err %v", c, l, err)
	}
}
