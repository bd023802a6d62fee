package node

import (
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// startNotify registers the leader-only notification sender when any target
// is configured. An invalid target configuration is an error.
func (n *Node) startNotify() error {
	c := n.cfg.Notify
	if !c.Enabled() {
		return nil
	}
	if c.Logger == nil {
		c.Logger = n.log.With("component", "notify")
	}
	snd, err := notify.NewSender(n.store, c)
	if err != nil {
		return err
	}
	n.store.OnLeadership(snd.Run)
	return nil
}
