package node

import (
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
)

// correlationConfig is the correlation loop's configuration with the node's
// logger, and agents counted silent after three plan intervals plus jitter
// unless configured.
func (n *Node) correlationConfig() correlate.LoopConfig {
	c := n.cfg.Correlation
	if c.Logger == nil {
		c.Logger = n.log.With("component", "correlate")
	}
	if c.Engine.SilentAfter <= 0 && n.cfg.Plan.Interval > 0 {
		c.Engine.SilentAfter = 3*n.cfg.Plan.Interval + n.cfg.Plan.Jitter
	}
	return c
}
