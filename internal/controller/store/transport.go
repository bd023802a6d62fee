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

// advertiseAddr is the address peers store in the raft configuration. It
// keeps a DNS name as a name (resolved at every dial), so a cluster whose
// pods come back with new IPs still finds itself.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

// streamLayer is raft's transport over TCP, optionally mutual TLS.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config // nil: plain TCP
}

func (l *streamLayer) Addr() net.Addr { return l.advertise }

func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if l.client != nil {
		conn, err = tls.DialWithDialer(d, "tcp", string(address), l.client)
	} else {
		conn, err = d.Dial("tcp", string(address))
	}
	if err != nil {
		return nil, fmt.Errorf("store: raft dial %s: %w", address, err)
	}
	return conn, nil
}

// Accept completes the TLS handshake before handing the connection to raft,
// so a peer without the cluster certificate never reaches raft's decoder.
func (l *streamLayer) Accept() (net.Conn, error) {
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
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	sl := &streamLayer{Listener: ln, advertise: adv}
	if t != nil {
		if t.Server == nil || t.Client == nil {
			ln.Close()
			return nil, errors.New("store: raft TLS needs both server and client configurations")
		}
		if t.Server.ClientAuth != tls.RequireAndVerifyClientCert {
			ln.Close()
			return nil, fmt.Errorf("%w: raft TLS server must require and verify client certificates", ErrBadConfig)
		}
		sl.Listener, sl.client = tls.NewListener(ln, t.Server), t.Client
	}
	return raft.NewNetworkTransportWithLogger(sl, 3, 10*time.Second, logger), nil
}

// checkAdvertise accepts host:port where host is a DNS name or a routable IP.
func checkAdvertise(addr string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return nil, fmt.Errorf("%w: raft advertise address %q must be host:port with a fixed port", ErrBadConfig, addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() || host == "" {
		return nil, fmt.Errorf("%w: raft advertise address %q is not routable (set raft.advertise to a DNS name or IP peers can reach)", ErrBadConfig, addr)
	}
	return advertiseAddr(addr), nil
}
