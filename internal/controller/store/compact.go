package store

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
)

// Compaction after a restore. A RestoreState command carries a whole
// backup; left in the raft log it is replayed on every restart until
// SnapshotThreshold more entries arrive (a 50,000-agent backup took over a
// minute and gigabytes to replay). After a node applies one, its
// compactor takes a snapshot at once and truncates the log it covers
// without keeping trailing entries, so a restart restores the snapshot
// instead. A lagging follower then catches up from that snapshot, which
// holds the same state.
type compactor struct {
	r    *raft.Raft
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

func newCompactor() *compactor {
	return &compactor{kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

// request asks for a compaction; it never blocks (FSM.Apply calls it).
func (c *compactor) request() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *compactor) start(r *raft.Raft, log *slog.Logger) {
	c.r, c.log = r, log
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.stop:
				select { // a restore applied just before Close is still compacted
				case <-c.kick:
					c.compact()
				default:
				}
				return
			case <-c.kick:
				c.compact()
			}
		}
	}()
}

func (c *compactor) close() {
	close(c.stop)
	c.wg.Wait()
}

// compact snapshots now, keeping no trailing log entries.
func (c *compactor) compact() {
	rc := c.r.ReloadableConfig()
	trailing := rc.TrailingLogs
	rc.TrailingLogs = 0
	if err := c.r.ReloadConfig(rc); err != nil {
		c.log.Warn("compaction after restore: cannot drop trailing logs", "err", err)
	}
	err := c.r.Snapshot().Error()
	rc.TrailingLogs = trailing
	if rerr := c.r.ReloadConfig(rc); rerr != nil {
		c.log.Warn("compaction after restore: cannot reset trailing logs", "err", rerr)
	}
	switch {
	case err == nil:
		c.log.Info("raft log compacted after a state restore", "last_index", c.r.LastIndex())
	case errors.Is(err, raft.ErrNothingNewToSnapshot), errors.Is(err, raft.ErrRaftShutdown):
	default:
		c.log.Warn("compaction after restore failed", "err", err)
	}
}
