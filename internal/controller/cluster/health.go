package cluster

import (
	"context"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// PeerHealth is the leader's view of one peer.
type PeerHealth struct {
	LastContact  time.Time
	AppliedIndex uint64
	Healthy      bool
}

// Health returns the leader's view of its peers (empty on followers).
func (c *Cluster) Health() map[string]PeerHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]PeerHealth, len(c.health))
	for id, h := range c.health {
		out[id] = PeerHealth{LastContact: h.lastContact, AppliedIndex: h.appliedIndex, Healthy: h.healthy}
	}
	return out
}

// leaderLoop runs while this node leads (after the post-election barrier):
// it registers this node's addresses, polls every peer's Info, registers
// their addresses, and removes dead servers when configured and safe.
func (c *Cluster) leaderLoop(ctx context.Context) {
	if err := c.store.RegisterNode(ctx, c.cfg.Self); err != nil {
		c.log.Warn("registering own addresses", "err", err)
	}
	c.mu.Lock()
	c.health = map[string]*peerHealth{}
	c.mu.Unlock()
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		c.pollPeers(ctx)
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.health = map[string]*peerHealth{}
			c.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

func (c *Cluster) pollPeers(ctx context.Context) {
	st, err := c.store.Status()
	if err != nil {
		return
	}
	now := time.Now()
	c.discover(ctx, st)
	for _, p := range st.Peers {
		if p.ID == c.cfg.Self.GetNodeId() {
			continue
		}
		addr := c.store.State().Node(p.ID).GetGrpcAddress()
		ok := false
		if addr != "" {
			if info, err := c.info(ctx, addr); err == nil && info.GetNode().GetNodeId() == p.ID {
				ok = true
				c.record(p.ID, now, info.GetAppliedIndex(), true)
				if err := c.store.RegisterNode(ctx, info.GetNode()); err != nil && ctx.Err() == nil {
					c.log.Warn("registering peer addresses", "peer", p.ID, "err", err)
				}
			}
		}
		if !ok {
			c.record(p.ID, now, 0, false)
		}
	}
	c.cleanupDead(ctx, st, now)
}

// record notes one poll of a peer.
func (c *Cluster) record(id string, now time.Time, applied uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[id]
	if h == nil {
		h = &peerHealth{firstFailure: now}
		c.health[id] = h
	}
	if ok {
		h.lastContact, h.appliedIndex, h.healthy, h.firstFailure = now, applied, true, time.Time{}
		return
	}
	if h.healthy || h.firstFailure.IsZero() {
		h.firstFailure = now
	}
	h.healthy = false
}

// cleanupDead removes a voter unreachable for DeadServerTimeout, but only
// when the voters left, all healthy, still form a quorum of the new size
// plus one spare failure margin (never shrinks below 3 voters).
func (c *Cluster) cleanupDead(ctx context.Context, st store.Status, now time.Time) {
	if c.cfg.DeadServerTimeout <= 0 {
		return
	}
	c.mu.Lock()
	var dead []string
	healthy := 1 // the leader itself
	voters := 0
	for _, p := range st.Peers {
		if p.Suffrage != "voter" {
			continue
		}
		voters++
		if p.ID == c.cfg.Self.GetNodeId() {
			continue
		}
		h := c.health[p.ID]
		switch {
		case h != nil && h.healthy:
			healthy++
		case h != nil && !h.firstFailure.IsZero() && now.Sub(h.firstFailure) >= c.cfg.DeadServerTimeout:
			dead = append(dead, p.ID)
		}
	}
	c.mu.Unlock()
	for _, id := range dead {
		remaining := voters - 1
		if remaining < 3 || healthy < remaining/2+1 {
			c.log.Warn("dead server kept: removing it would leave no healthy quorum margin", "peer", id, "voters", voters, "healthy", healthy)
			continue
		}
		if err := c.store.RemovePeer(ctx, id); err != nil {
			c.log.Warn("removing dead server", "peer", id, "err", err)
			continue
		}
		voters--
		c.log.Warn("dead server removed", "peer", id, "unreachable_for", c.cfg.DeadServerTimeout)
	}
}

// discover registers the addresses of peers the state does not know yet
// (after bootstrap_expect formation no follower went through Join) by asking
// the retry_join addresses who they are.
func (c *Cluster) discover(ctx context.Context, st store.Status) {
	missing := false
	for _, p := range st.Peers {
		if p.ID != c.cfg.Self.GetNodeId() && c.store.State().Node(p.ID) == nil {
			missing = true
		}
	}
	if !missing {
		return
	}
	for _, addr := range c.cfg.RetryJoin {
		info, err := c.info(ctx, addr)
		if err != nil || info.GetNode().GetNodeId() == c.cfg.Self.GetNodeId() {
			continue
		}
		if c.store.State().Node(info.GetNode().GetNodeId()) == nil {
			if err := c.store.RegisterNode(ctx, info.GetNode()); err != nil && ctx.Err() == nil {
				c.log.Warn("registering discovered peer", "peer", info.GetNode().GetNodeId(), "err", err)
			}
		}
	}
}
