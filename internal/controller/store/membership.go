package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrNotPeer: the node id is not in the raft configuration.
var ErrNotPeer = errors.New("store: no such peer")

// AddVoter adds (or re-addresses) a voting server. Leader only.
func (s *Store) AddVoter(id, addr string) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("store: configuration: %w", err)
	}
	for _, sv := range cf.Configuration().Servers {
		if string(sv.ID) == id && string(sv.Address) == addr && sv.Suffrage == raft.Voter {
			return nil // already a member: joining again is harmless
		}
	}
	if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second).Error(); err != nil {
		return s.membershipErr("add voter", err)
	}
	s.log.Info("membership change: voter added", "peer", id, "address", addr)
	return nil
}

// RemovePeer removes a server from the configuration. Leader only.
func (s *Store) RemovePeer(id string) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("store: configuration: %w", err)
	}
	found := false
	for _, sv := range cf.Configuration().Servers {
		found = found || string(sv.ID) == id
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNotPeer, id)
	}
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, 30*time.Second).Error(); err != nil {
		return s.membershipErr("remove server", err)
	}
	s.log.Info("membership change: server removed", "peer", id)
	return nil
}

// TransferLeadership hands leadership to id (or any up-to-date voter when id
// is empty) and waits for it. Leader only.
func (s *Store) TransferLeadership(id string) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	var f raft.Future
	if id == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		addr := ""
		cf := s.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return err
		}
		for _, sv := range cf.Configuration().Servers {
			if string(sv.ID) == id {
				addr = string(sv.Address)
			}
		}
		if addr == "" {
			return fmt.Errorf("%w: %s", ErrNotPeer, id)
		}
		f = s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("store: leadership transfer: %w", err)
	}
	s.log.Info("leadership transferred", "to", id)
	return nil
}

// Voters is the number of voting servers in the configuration.
func (s *Store) Voters() (int, error) {
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return 0, err
	}
	n := 0
	for _, sv := range cf.Configuration().Servers {
		if sv.Suffrage == raft.Voter {
			n++
		}
	}
	return n, nil
}

// RegisterNode records a node's addresses in the replicated state.
func (s *Store) RegisterNode(ctx context.Context, n *mxv1.NodeInfo) error {
	if cur := s.state.Node(n.GetNodeId()); cur != nil &&
		cur.GetGrpcAddress() == n.GetGrpcAddress() && cur.GetRaftAddress() == n.GetRaftAddress() && cur.GetHttpAddress() == n.GetHttpAddress() &&
		cur.GetAgentAddress() == n.GetAgentAddress() {
		return nil
	}
	_, err := s.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterNode{RegisterNode: &mxv1.RegisterNode{Node: n}}})
	return err
}

// ConsistentRead waits until this node may serve a linearizable read: it
// must lead, confirm that with a quorum, and have applied every entry
// committed before the read started.
func (s *Store) ConsistentRead(ctx context.Context) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	commit := s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return s.membershipErr("verify leader", err)
	}
	for s.raft.AppliedIndex() < commit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (s *Store) membershipErr(op string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %s: %v", ErrNotLeader, op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
