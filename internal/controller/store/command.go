package store

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
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

// decodeCommand parses a raft log entry. An entry with no known kind (a newer
// binary wrote it) is ErrUnknownCommand.
func decodeCommand(b []byte) (*mxv1.Command, error) {
	cmd := &mxv1.Command{}
	if err := proto.Unmarshal(b, cmd); err != nil {
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
