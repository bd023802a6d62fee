package agentport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// handshakeTimeout bounds a TLS handshake on the shared port.
const handshakeTimeout = 10 * time.Second

// Router owns the gRPC port's listener: it completes each TLS handshake,
// serves connections with an agent certificate on the lean Server (on the
// handshake's goroutine, which becomes the connection's only one) and
// hands every other connection to grpc-go, for which it is the net.Listener
// (use it with Handshaken credentials).
type Router struct {
	ln      net.Listener
	cfg     *tls.Config
	isAgent func(*tls.ConnectionState) bool
	lean    *Server
	log     *slog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewRouter returns a router for ln. cfg is the server TLS configuration
// (ALPN "h2" is added); isAgent decides from the verified handshake which
// connections the lean server takes.
func NewRouter(ln net.Listener, cfg *tls.Config, isAgent func(*tls.ConnectionState) bool, lean *Server, log *slog.Logger) *Router {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{ln: ln, cfg: cfg, isAgent: isAgent, lean: lean, log: log, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Run accepts connections until Close; it returns after every handshake
// it started has finished and every lean connection has ended (see
// Server.Shutdown).
func (r *Router) Run(ctx context.Context) error {
	defer r.wg.Wait()
	var delay time.Duration
	for {
		raw, err := r.ln.Accept()
		if err != nil {
			select {
			case <-r.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			r.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-r.done:
				return nil
			case <-ctx.Done():
				return nil
			}
		}
		delay = 0
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.route(raw)
		}()
	}
}

func (r *Router) route(raw net.Conn) {
	tc := tls.Server(raw, r.cfg)
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		r.log.Debug("TLS handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	if r.isAgent(&st) {
		r.lean.ServeConn(tc, &st)
		return
	}
	select {
	case r.conns <- tc:
	case <-r.done:
		_ = tc.Close()
	}
}

// Accept returns the next non-agent connection, TLS already established.
func (r *Router) Accept() (net.Conn, error) {
	select {
	case c := <-r.conns:
		return c, nil
	case <-r.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already served are not affected.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.done)
		err = r.ln.Close()
	})
	return err
}

// Addr is the listener's address.
func (r *Router) Addr() net.Addr { return r.ln.Addr() }

// Handshaken returns grpc-go transport credentials for connections whose
// TLS handshake the Router already completed.
func Handshaken() credentials.TransportCredentials { return handshaken{} }

type handshaken struct{}

func (handshaken) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, nil, fmt.Errorf("agentport: connection %T did not come through the router", c)
	}
	return tc, credentials.TLSInfo{State: tc.ConnectionState(), CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (handshaken) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("agentport: Handshaken credentials are for servers")
}

func (handshaken) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (h handshaken) Clone() credentials.TransportCredentials { return h }

func (handshaken) OverrideServerName(string) error { return nil }
