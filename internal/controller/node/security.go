package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// ErrInsecureConfig: neither TLS + agent CA nor an explicit insecure setting.
var ErrInsecureConfig = errors.New("node: refusing to start without TLS: set tls.cert_file/key_file/ca_file and agent_ca.cert_file/key_file, or insecure: true for a lab (no TLS, no authentication)")

func (n *Node) authConfig() auth.Config {
	c := auth.Config{
		Insecure: n.cfg.Insecure, State: n.store.State(), AgentCA: n.cfg.AgentCA,
		BootstrapToken: n.cfg.BootstrapToken,
		TokenRate:      50, TokenBurst: 100, AgentRate: 5, AgentBurst: 20,
	}
	if n.cfg.TLS != nil {
		c.ClusterPool = n.cfg.TLS.Pool
	}
	if n.cfg.TokenRate != 0 {
		c.TokenRate, c.TokenBurst = max(n.cfg.TokenRate, 0), max(2*n.cfg.TokenRate, 0)
	}
	if n.cfg.AgentBatchRate != 0 {
		c.AgentRate, c.AgentBurst = max(n.cfg.AgentBatchRate, 0), max(4*n.cfg.AgentBatchRate, 0)
	}
	return c
}

// serverTLS is the gRPC port's TLS: the cluster certificate, and client
// certificates verified when given, against the cluster and agent CAs
// (which one a method needs is auth's decision).
func (n *Node) serverTLS() *tls.Config {
	cfg := n.cfg.TLS.ServerOptionalClient.Clone()
	pool := x509.NewCertPool()
	for _, c := range n.cfg.TLS.CACerts {
		pool.AddCert(c)
	}
	pool.AddCert(n.cfg.AgentCA.Cert)
	cfg.ClientCAs = pool
	cfg.MinVersion = tls.VersionTLS12
	return cfg
}

// selfConn is a client connection to this node's own gRPC server, used by
// the REST gateway so REST and gRPC share authentication and forwarding.
func (n *Node) selfConn() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if n.cfg.TLS != nil {
		c := n.cfg.TLS.Client.Clone()
		c.Certificates = nil // API calls authenticate with tokens, not as a node
		creds = credentials.NewTLS(c)
	}
	return grpc.NewClient(advertisable(n.grpcLn.Addr().String()), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
}

// ErrBadAgentAdvertise: grpc.agent_advertise is not an address agents can dial.
var ErrBadAgentAdvertise = errors.New("node: grpc.agent_advertise must be host:port with a fixed port and a DNS name or routable IP")

// checkAgentAdvertise accepts "" (use grpc.advertise) or host:port that an
// agent can dial: no wildcard IP, no port 0.
func checkAgentAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return fmt.Errorf("%w: %q", ErrBadAgentAdvertise, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: %q", ErrBadAgentAdvertise, addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%w: %q", ErrBadAgentAdvertise, addr)
	}
	return nil
}
