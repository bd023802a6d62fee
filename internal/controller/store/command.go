package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/batchpb"
)

// ErrUnknownCommand marks a log entry whose kind this binary does not know.
var ErrUnknownCommand = errors.New("store: unknown command kind")

// encodeCommand serialises a command deterministically for the raft log.
func encodeCommand(cmd *mxv1.Command) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("store: encode command: %w", err)
	}
	return b, nil
}

// decodeCommand parses a raft log entry (IngestBatches entries with
// batchpb's decoder, which gives what proto.Unmarshal does). An entry with
// no known kind (a newer binary wrote it) is ErrUnknownCommand.
func decodeCommand(b []byte) (*mxv1.Command, error) {
	cmd := &mxv1.Command{}
	if err := batchpb.UnmarshalCommand(b, cmd); err != nil {
		return nil, fmt.Errorf("store: decode command: %w", err)
	}
	if cmd.GetKind() == nil {
		return nil, ErrUnknownCommand
	}
	return cmd, nil
}

// IngestResult is the FSM's answer to an IngestBatches command: for each
// batch, in order, whether it was applied (false: a replay, already committed).
type IngestResult struct {
	Applied []bool
}

// EncodedBatch is one agent's batch for an IngestBatches command: the
// message as the ingest path validated it, and the bytes it was decoded
// from (Raw: the ResultBatch's wire encoding, nil to encode Batch here).
type EncodedBatch struct {
	AgentID string
	Batch   *mxv1.ResultBatch
	Raw     []byte
}

// Size is the batch's share of the encoded entry (upper bound).
func (e EncodedBatch) Size() int {
	n := len(e.Raw)
	if e.Raw == nil {
		n = proto.Size(e.Batch)
	}
	return n + len(e.AgentID) + 3*binary.MaxVarintLen64
}

// Field numbers of the messages encodeIngest writes by hand
// (proto/mxprobe/v1/command.proto): Command.proposed_at,
// Command.ingest_batches, IngestBatches.batches, AgentBatch.agent_id,
// AgentBatch.batch.
const (
	fieldCommandProposedAt    protowire.Number = 1
	fieldCommandIngestBatches protowire.Number = 3
	fieldIngestBatchesBatches protowire.Number = 1
	fieldAgentBatchAgentID    protowire.Number = 1
	fieldAgentBatchBatch      protowire.Number = 2
)

// encodeIngest returns the IngestBatches command for batches stamped at,
// and its raft encoding, which carries every batch's Raw bytes as they
// came instead of encoding the decoded message again. It is the same wire
// format as encodeCommand's (followers and replays decode either with
// decodeCommand); only the bytes inside a batch may be ordered as the
// agent's encoder wrote them rather than deterministically, and every
// replica decodes those same bytes.
func encodeIngest(at *timestamppb.Timestamp, batches []EncodedBatch) (*mxv1.Command, []byte, error) {
	ib := &mxv1.IngestBatches{Batches: make([]*mxv1.AgentBatch, len(batches))}
	raw := make([][]byte, len(batches))
	inner := 0
	for i, e := range batches {
		ib.Batches[i] = &mxv1.AgentBatch{AgentId: e.AgentID, Batch: e.Batch}
		r := e.Raw
		if r == nil {
			var err error
			if r, err = (proto.MarshalOptions{Deterministic: true}).Marshal(e.Batch); err != nil {
				return nil, nil, fmt.Errorf("store: encode batch of %s: %w", e.AgentID, err)
			}
		}
		raw[i] = r
		inner += protowire.SizeTag(fieldIngestBatchesBatches) + protowire.SizeBytes(agentBatchSize(e.AgentID, r))
	}
	ts, err := proto.MarshalOptions{Deterministic: true}.Marshal(at)
	if err != nil {
		return nil, nil, fmt.Errorf("store: encode command time: %w", err)
	}
	b := make([]byte, 0, protowire.SizeTag(fieldCommandProposedAt)+protowire.SizeBytes(len(ts))+
		protowire.SizeTag(fieldCommandIngestBatches)+protowire.SizeBytes(inner))
	b = protowire.AppendTag(b, fieldCommandProposedAt, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	b = protowire.AppendTag(b, fieldCommandIngestBatches, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	for i, e := range batches {
		b = protowire.AppendTag(b, fieldIngestBatchesBatches, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(agentBatchSize(e.AgentID, raw[i])))
		if e.AgentID != "" {
			b = protowire.AppendTag(b, fieldAgentBatchAgentID, protowire.BytesType)
			b = protowire.AppendString(b, e.AgentID)
		}
		b = protowire.AppendTag(b, fieldAgentBatchBatch, protowire.BytesType)
		b = protowire.AppendBytes(b, raw[i])
	}
	return &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_IngestBatches{IngestBatches: ib}}, b, nil
}

func agentBatchSize(agentID string, raw []byte) int {
	n := protowire.SizeTag(fieldAgentBatchBatch) + protowire.SizeBytes(len(raw))
	if agentID != "" {
		n += protowire.SizeTag(fieldAgentBatchAgentID) + protowire.SizeBytes(len(agentID))
	}
	return n
}
