package cluster

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Pool keeps one gRPC connection per peer address.
type Pool struct {
	tls   *tls.Config // nil: plaintext (dev)
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewPool returns a pool dialling with the cluster's client TLS (nil: insecure).
func NewPool(clientTLS *tls.Config) *Pool {
	return &Pool{tls: clientTLS, conns: map[string]*grpc.ClientConn{}}
}

// Conn returns the connection to addr, creating it lazily.
func (p *Pool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if p.tls != nil {
		creds = credentials.NewTLS(p.tls.Clone())
	}
	// Peers come and go (restarts, elections): wait for the connection
	// instead of failing fast on an old dial error, with short reconnect
	// backoff; callers bound every call with a deadline.
	bo := backoff.DefaultConfig
	bo.MaxDelay = 2 * time.Second
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 2 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("cluster: dial %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
}
