package node

import (
	"context"
	"fmt"
)

// backup returns the leader's state after a linearizable read barrier.
func (n *Node) backup(ctx context.Context) ([]byte, error) {
	if err := n.store.ConsistentRead(ctx); err != nil {
		id, addr := n.cluster.LeaderGRPC()
		return nil, fmt.Errorf("backups are taken on the leader (%s, gRPC %s; its HTTP address is in cluster status): %w", id, addr, err)
	}
	return n.store.Backup()
}

// canRestore refuses a restore upload on a follower before it is read.
func (n *Node) canRestore() error {
	if !n.store.IsLeader() {
		id, _ := n.cluster.LeaderGRPC()
		return fmt.Errorf("restore on the leader (%s)", id)
	}
	return nil
}

// restore replaces the replicated state (leader only).
func (n *Node) restore(ctx context.Context, b []byte) error {
	if !n.store.IsLeader() {
		id, _ := n.cluster.LeaderGRPC()
		return fmt.Errorf("restore on the leader (%s)", id)
	}
	n.log.Warn("restoring state from a backup")
	return n.store.Restore(ctx, b)
}
