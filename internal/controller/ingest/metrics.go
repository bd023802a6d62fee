package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest path's Prometheus series.
type Metrics struct {
	streamsConnected prometheus.Gauge
	batchesCommitted prometheus.Counter
	resultsCommitted prometheus.Counter
	entriesCommitted prometheus.Counter
	applyLatency     prometheus.Histogram
	// identityRefused counts enrollments and Hellos refused because they
	// would take over or move another agent's identity, by reason.
	identityRefused *prometheus.CounterVec
}

// Reasons of mxprobe_agent_identity_refused_total.
const (
	refusedEnrollExists     = "enroll_id_exists"
	refusedEnrollOutOfScope = "enroll_outside_token_scope"
	refusedEnrollOtherSite  = "enroll_other_site"
	refusedHelloAgent       = "hello_agent_mismatch"
	refusedHelloSite        = "hello_site_mismatch"
)

// NewMetrics creates the series and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		streamsConnected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mxprobe_agent_streams_connected", Help: "Agent streams currently connected to this node."}),
		batchesCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_batches_committed_total", Help: "Agent result batches committed through this node."}),
		resultsCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_results_committed_total", Help: "Check results committed through this node."}),
		entriesCommitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "mxprobe_ingest_raft_entries_total", Help: "Raft entries (group commits) written by ingest."}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mxprobe_ingest_apply_seconds", Help: "Time from proposing a group commit to it being applied.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		identityRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mxprobe_agent_identity_refused_total",
			Help: "Enrollments and agent Hellos refused because they would take over or move another agent's identity (an already enrolled id, an id outside the token's site or prefix, a Hello disagreeing with the certificate or the registered site)."}, []string{"reason"}),
	}
	for _, r := range []string{refusedEnrollExists, refusedEnrollOutOfScope, refusedEnrollOtherSite, refusedHelloAgent, refusedHelloSite} {
		m.identityRefused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.streamsConnected, m.batchesCommitted, m.resultsCommitted, m.entriesCommitted, m.applyLatency, m.identityRefused)
	}
	return m
}
