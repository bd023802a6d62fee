package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxprobe/mxprobe/internal/controller/exporter"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// fleetCollector exports the fleet from this node's replicated state
// (internal/controller/exporter), with the configured notification targets.
func (n *Node) fleetCollector() prometheus.Collector {
	var names []string
	if n.cfg.Notify.Enabled() {
		if ts, err := n.cfg.Notify.Targets(); err == nil {
			for _, t := range ts {
				names = append(names, t.Name())
			}
		}
	}
	return exporter.New(exporter.Config{State: n.store.State(), Targets: names})
}

// raftCollector exposes raft's state at scrape time.
type raftCollector struct {
	st                                             *store.Store
	commit, applied, lag, lastIndex, leader, peers *prometheus.Desc
	changes                                        *prometheus.Desc
}

func newRaftCollector(st *store.Store) *raftCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &raftCollector{
		st:        st,
		commit:    d("mxprobe_raft_commit_index", "Raft commit index known to this node."),
		applied:   d("mxprobe_raft_applied_index", "Raft index applied to this node's state."),
		lag:       d("mxprobe_raft_apply_lag", "Committed entries not yet applied on this node."),
		lastIndex: d("mxprobe_raft_last_log_index", "Last raft log index on this node."),
		leader:    d("mxprobe_raft_is_leader", "1 when this node leads."),
		peers:     d("mxprobe_raft_peers", "Servers in the raft configuration."),
		changes:   d("mxprobe_raft_leader_changes_total", "Leader changes seen by this node."),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.commit, c.applied, c.lag, c.lastIndex, c.leader, c.peers, c.changes} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.st.Status()
	if err != nil {
		return
	}
	g := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	g(c.commit, st.CommitIndex)
	g(c.applied, st.AppliedIndex)
	var lag uint64
	if st.CommitIndex > st.AppliedIndex {
		lag = st.CommitIndex - st.AppliedIndex
	}
	g(c.lag, lag)
	g(c.lastIndex, st.LastLogIndex)
	var l uint64
	if st.State == "leader" {
		l = 1
	}
	g(c.leader, l)
	g(c.peers, uint64(len(st.Peers)))
	ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(st.LeaderChanges))
}
