package node

import (
	"crypto/tls"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// isAgentConn: the connection presented a certificate from the agent CA, so
// the agent port's lean endpoint serves it.
func (n *Node) isAgentConn(st *tls.ConnectionState) bool {
	if len(st.VerifiedChains) == 0 || n.cfg.AgentCA == nil {
		return false
	}
	_, err := n.cfg.AgentCA.Verify(st.PeerCertificates, time.Now())
	return err == nil
}

func (n *Node) registerAgentPortMetrics() {
	lean := n.lean
	n.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mxprobe_agentport_connections",
			Help: "Agent connections served by the lean agent endpoint."}, func() float64 { return float64(lean.Connections()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mxprobe_agentport_protocol_errors_total",
			Help: "Agent connections ended because the peer broke HTTP/2 or a limit."}, func() float64 { return float64(lean.ProtocolErrors()) }),
	)
}
