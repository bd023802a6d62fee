package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest path's Prometheus series.
type Metrics struct {
	streamsConnected prometheus.Gauge
	batchesCommitted prometheus.Counter
	resultsCommitted prometheus.Counter
	entriesCommitted prometheus.Counter
	applyLatency     prometheus.Histogram
}

// NewMetrics creates the series and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		streamsConnected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mxprobe_agent_streams_connected", Help: "Agent streams currently connected to this node."}),
		batchesCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_batches_committed_total", Help: "Agent result batches committed through this node."}),
		resultsCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_results_committed_total", Help: "Check results committed through this node."}),
		entriesCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_ingest_raft_entries_total", Help: "Raft entries (group commits) written by ingest."}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mxprobe_ingest_apply_seconds", Help: "Time from proposing a group commit to it being applied.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.streamsConnected, m.batchesCommitted, m.resultsCommitted, m.entriesCommitted, m.applyLatency)
	}
	return m
}
