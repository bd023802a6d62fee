package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrNotPeer: the node id is not in the raft configuration.
var ErrNotPeer = errors.New("store: no such peer")

// ErrNoTransferTarget: leadership cannot move: no other voter exists (a
// one-node cluster), or the named node is this leader or not a voter.
var ErrNoTransferTarget = errors.New("store: no voter to hand leadership to")

// Membership changes, the leadership transfer and the leader check wait on
// raft futures; each wait ends with ctx or Close (awaitFuture): raft can
// leave a future unanswered when it shuts down (hashicorp/raft#498), and a
// bare Error() then held the caller, e.g. the leader's dead-server cleanup,
// whose return Store.Close waits for.

// AddVoter adds (or re-addresses) a voting server. Leader only.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
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
	if err := awaitFuture(ctx, s.closing, s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 30*time.Second)); err != nil {
		return s.membershipErr("add voter", err)
	}
	s.log.Info("membership change: voter added", "peer", id, "address", addr)
	return nil
}

// RemovePeer removes a server from the configuration. Leader only.
func (s *Store) RemovePeer(ctx context.Context, id string) error {
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
	if err := awaitFuture(ctx, s.closing, s.raft.RemoveServer(raft.ServerID(id), 0, 30*time.Second)); err != nil {
		return s.membershipErr("remove server", err)
	}
	s.log.Info("membership change: server removed", "peer", id)
	return nil
}

// TransferLeadership hands leadership to id (or any up-to-date voter when id
// is empty) and waits for it. Leader only.
func (s *Store) TransferLeadership(ctx context.Context, id string) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	addr, others := "", 0
	for _, sv := range cf.Configuration().Servers {
		if sv.Suffrage == raft.Voter && string(sv.ID) != s.cfg.NodeID {
			others++
		}
		if string(sv.ID) == id {
			addr = string(sv.Address)
			if sv.Suffrage != raft.Voter {
				return fmt.Errorf("%w: %s is not a voter", ErrNoTransferTarget, id)
			}
		}
	}
	var f raft.Future
	switch {
	case others == 0:
		return fmt.Errorf("%w: this cluster has one voter (%s); add nodes before transferring leadership", ErrNoTransferTarget, s.cfg.NodeID)
	case id == s.cfg.NodeID:
		return fmt.Errorf("%w: %s already leads", ErrNoTransferTarget, id)
	case id == "":
		f = s.raft.LeadershipTransfer()
	case addr == "":
		return fmt.Errorf("%w: %s", ErrNotPeer, id)
	default:
		f = s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := awaitFuture(ctx, s.closing, f); err != nil {
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
		cur.GetAgentAddress() == n.GetAgentAddress() && slices.Equal(cur.GetFeatures(), n.GetFeatures()) {
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
	if err := awaitFuture(ctx, s.closing, s.raft.VerifyLeader()); err != nil {
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
	if errors.Is(err, raft.ErrRaftShutdown) {
		return fmt.Errorf("%w: %s: %v", ErrClosed, op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
