package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TLS secures the raft transport with mutual TLS: every connection between
// nodes presents and verifies the cluster certificate.
type TLS struct {
	// Server is used for accepted raft connections; it must require and
	// verify client certificates (tls.RequireAndVerifyClientCert).
	Server *tls.Config
	// Client is used for outgoing raft connections; it must present the
	// cluster certificate and verify the peer against the cluster CA.
	Client *tls.Config
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

func (l *tlsStreamLayer) Addr() net.Addr { return l.advertise }

func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), l.client)
	if err != nil {
		return nil, fmt.Errorf("store: raft dial %s: %w", address, err)
	}
	return conn, nil
}

// Accept completes the TLS handshake before handing the connection to raft,
// so a peer without the cluster certificate never reaches raft's decoder.
func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*tls.Conn)
		if !ok {
			return c, nil
		}
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			_ = tc.Close()
			continue // rejected peer: keep accepting
		}
		_ = tc.SetDeadline(time.Time{})
		return tc, nil
	}
}

func newNetworkTransport(bind string, adv net.Addr, t *TLS, logger hclog.Logger) (*raft.NetworkTransport, error) {
	if t == nil {
		return raft.NewTCPTransportWithLogger(bind, adv, 3, 10*time.Second, logger)
	}
	if t.Server == nil || t.Client == nil {
		return nil, errors.New("store: raft TLS needs both server and client configurations")
	}
	if t.Server.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, fmt.Errorf("%w: raft TLS server must require and verify client certificates", ErrBadConfig)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	sl := &tlsStreamLayer{Listener: tls.NewListener(ln, t.Server), advertise: adv, client: t.Client}
	return raft.NewNetworkTransportWithLogger(sl, 3, 10*time.Second, logger), nil
}
