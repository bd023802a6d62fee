package store

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/batchpb"
)

// maxSnapshotBytes bounds what Restore reads, so a corrupt snapshot cannot
// exhaust memory.
const maxSnapshotBytes = 4 << 30

// fsm applies committed commands to State.
type fsm struct {
	state *State
	log   *slog.Logger
	// proposed: commands this node proposed, already decoded (nil: none).
	proposed *proposals
	// restored, if set, is called after a RestoreState command is applied
	// (compact.go); it must not block.
	restored func()
}

var _ raft.FSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, ok := f.proposed.take(l.Data)
	var err error
	if !ok {
		// A follower's (or a replay's) ingest entry: indexed, its results
		// kept encoded (stored_result.go); anything else decoded.
		if ix, ok := batchpb.IndexIngest(l.Data); ok {
			return f.state.applyIndexedIngest(ix)
		}
		cmd, err = decodeCommand(l.Data)
	}
	if err != nil {
		// Diverging silently is worse than stopping: an operator must upgrade
		// this node (or it holds a corrupt entry).
		panic(fmt.Sprintf("mxprobe store: cannot apply raft entry %d: %v", l.Index, err))
	}
	at := cmd.GetProposedAt()
	switch k := cmd.GetKind().(type) {
	case *mxv1.Command_RegisterAgent:
		f.state.registerAgent(k.RegisterAgent.GetHello(), at)
		return nil
	case *mxv1.Command_RegisterNode:
		f.state.registerNode(k.RegisterNode.GetNode())
		return nil
	case *mxv1.Command_CreateToken, *mxv1.Command_RevokeToken, *mxv1.Command_ConsumeJoinToken, *mxv1.Command_RevokeAgent:
		return f.state.applyAuth(cmd)
	case *mxv1.Command_CorrelateIncidents:
		return f.applyCorrelate(k.CorrelateIncidents, at)
	case *mxv1.Command_CorrelateIncidentsDelta:
		return f.applyCorrelate(f.state.expandDelta(k.CorrelateIncidentsDelta), at)
	case *mxv1.Command_IncidentAction:
		before := f.state.incidentsBefore([]string{k.IncidentAction.GetIncidentId()})
		res := f.state.applyIncidentAction(k.IncidentAction, at)
		f.state.recordEvents(before, at)
		return res
	case *mxv1.Command_UpdateIncidentRefs:
		before := f.state.incidentsBefore([]string{k.UpdateIncidentRefs.GetIncidentId()})
		res := f.state.applyIncidentRefs(k.UpdateIncidentRefs, at)
		f.state.recordEvents(before, at)
		return res
	case *mxv1.Command_NotifyEnqueue, *mxv1.Command_NotifyOutcome, *mxv1.Command_NotifyTargetState, *mxv1.Command_NotifyRedeliver:
		return f.state.applyNotify(cmd)
	case *mxv1.Command_RestoreState:
		prev := f.state.eventsLast()
		f.state.restore(k.RestoreState.GetSnapshot())
		f.state.restoreBackupEvents(prev)
		f.log.Warn("state replaced by a restored backup", "index", l.Index)
		if f.restored != nil {
			f.restored()
		}
		return nil
	case *mxv1.Command_IngestBatches:
		res := IngestResult{Applied: make([]bool, len(k.IngestBatches.GetBatches()))}
		for i, b := range k.IngestBatches.GetBatches() {
			res.Applied[i] = f.state.ingest(b, at)
		}
		return res
	case *mxv1.Command_IngestTlsReports:
		return f.state.applyTLSReports(k.IngestTlsReports, at)
	case *mxv1.Command_AgeTlsReportResults:
		return f.state.applyAgeTLSReports(k.AgeTlsReportResults, at)
	default:
		panic(fmt.Sprintf("mxprobe store: raft entry %d: %v %T", l.Index, ErrUnknownCommand, k))
	}
}

// applyIndexedIngest applies an IngestBatches entry read by
// batchpb.IndexIngest, answering as Apply does for its decoding.
func (s *State) applyIndexedIngest(ix batchpb.Ingest) IngestResult {
	res := IngestResult{Applied: make([]bool, len(ix.Batches))}
	for i := range ix.Batches {
		res.Applied[i] = s.ingestIndexed(&ix.Batches[i], ix.ProposedAt)
	}
	return res
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.state.snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	snap, err := readSnapshot(rc, maxSnapshotBytes)
	if err != nil {
		return fmt.Errorf("store: restore snapshot: %w", err)
	}
	f.state.restore(snap)
	f.log.Info("state restored from snapshot", "agents", len(snap.GetAgents()), "results", len(snap.GetResults()))
	return nil
}

type fsmSnapshot struct{ snap *mxv1.StateSnapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.snap); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("store: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
