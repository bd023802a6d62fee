package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrBadBackup: the bytes are not an mxprobe state backup.
var ErrBadBackup = errors.New("store: not an mxprobe state backup")

// Backup serialises this node's applied state (a StateSnapshot). Taken on
// the leader after ConsistentRead it holds everything committed so far.
func (s *Store) Backup() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.state.snapshot())
	if err != nil {
		return nil, fmt.Errorf("store: backup: %w", err)
	}
	return b, nil
}

// Restore replaces the replicated state with a backup, through raft.
func (s *Store) Restore(ctx context.Context, backup []byte) error {
	snap := &mxv1.StateSnapshot{}
	if err := proto.Unmarshal(backup, snap); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	_, err := s.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RestoreState{RestoreState: &mxv1.RestoreState{Snapshot: snap}}})
	return err
}

// Recover rewrites the raft configuration of a stopped node's data
// directory to the given servers (hashicorp/raft's manual recovery for a
// cluster that lost quorum). Run it on every surviving node with the same
// server list, then start them.
func Recover(dataDir, nodeID string, servers []raft.Server, log *slog.Logger) error {
	if len(servers) == 0 {
		return errors.New("store: recover needs at least one server")
	}
	found := false
	for _, sv := range servers {
		found = found || string(sv.ID) == nodeID
	}
	if !found {
		return fmt.Errorf("store: recover: this node %q is not in the new configuration", nodeID)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: &slogWriter{log: log}})
	ls, err := openLogStore(dataDir, hlog)
	if err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	defer ls.close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("store: recover: snapshots: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(nodeID)
	rc.Logger = hlog
	_, trans := raft.NewInmemTransport("")
	if err := raft.RecoverCluster(rc, &fsm{state: newState(), log: log}, ls.logs, ls.stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	return nil
}
