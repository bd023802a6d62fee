package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnknownScenario is returned by Start for a scenario it does not know.
var ErrUnknownScenario = errors.New("lab: unknown scenario")

// Defaults for ServerOptions.
const (
	DefaultHostname      = "mail.contoso.lab"
	DefaultIdleTimeout   = 30 * time.Second
	DefaultSessionLimit  = 2 * time.Minute
	DefaultMaxLineLength = 4096
	DefaultDripInterval  = time.Second
	hugeLineSize         = 1 << 20
)

// ServerOptions configures a lab server. The zero value is usable.
type ServerOptions struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// Hostname the server announces and its certificate names; default
	// DefaultHostname.
	Hostname string
	// CA issues the scenario's certificate; a fresh one is created when nil.
	CA *CA
	// ClientCAs verifies client certificates in RequireClientCert; default
	// CA.Pool().
	ClientCAs *x509.CertPool
	// Certificate overrides the scenario's certificate (MissingIntermediate
	// still presents only its leaf).
	Certificate *Issued
	// OCSPStaple is stapled to the handshake (a DER OCSP response, e.g. from
	// RevocationResponder.Staple).
	OCSPStaple []byte
	// Banner replaces the 220 greeting lines (text after "220-"/"220 ").
	Banner []string
	// StartTLSLast advertises STARTTLS as the last EHLO line ("250 STARTTLS").
	StartTLSLast bool
	// IdleTimeout bounds each read and write; default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// SessionLimit bounds a whole connection; default DefaultSessionLimit.
	SessionLimit time.Duration
	// MaxLineLength bounds a command line including CRLF; default
	// DefaultMaxLineLength.
	MaxLineLength int
	// DripInterval is the delay between banner bytes in DripFeed.
	DripInterval time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Hostname == "" {
		o.Hostname = DefaultHostname
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.SessionLimit <= 0 {
		o.SessionLimit = DefaultSessionLimit
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = DefaultMaxLineLength
	}
	if o.DripInterval <= 0 {
		o.DripInterval = DefaultDripInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats counts what a server saw. Tests use it to check that a prober
// behaved (QUIT sent, no mail attempted).
type Stats struct {
	Connections     int64
	StartTLS        int64 // STARTTLS commands answered with 220
	Handshakes      int64 // TLS handshakes completed
	HandshakeErrors int64
	Quits           int64
	MailCommands    int64 // MAIL, RCPT, DATA, BDAT
}

type counters struct {
	connections, startTLS, handshakes, handshakeErrors, quits, mail atomic.Int64
}

// Server is a running lab SMTP server.
type Server struct {
	sc       Scenario
	opts     ServerOptions
	ca       *CA
	issued   *Issued
	tlsConf  *tls.Config
	ln       net.Listener
	done     chan struct{}
	stopCtx  func() bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	stats    counters
	closeErr error
	once     sync.Once
}

// Start mints the scenario's certificate and starts serving. The server stops
// when ctx is done or Close is called.
func Start(ctx context.Context, sc Scenario, opts ServerOptions) (*Server, error) {
	if err := sc.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = NewCA("mxprobe lab root CA"); err != nil {
			return nil, err
		}
	}
	issued, leafOnly, err := scenarioCert(sc, ca, opts.Hostname)
	if err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", sc, err)
	}
	if opts.Certificate != nil {
		issued = opts.Certificate
	}
	tc := issued.TLSCertificate()
	if leafOnly {
		tc = issued.LeafOnlyTLSCertificate()
	}
	tc.OCSPStaple = opts.OCSPStaple
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("lab: listen %s: %w", opts.Addr, err)
	}
	s := &Server{
		sc:      sc,
		opts:    opts,
		ca:      ca,
		issued:  issued,
		tlsConf: tlsConfig(sc, tc, opts, ca),
		ln:      ln,
		done:    make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
	}
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	s.wg.Add(1)
	go s.acceptLoop()
	opts.Logger.Debug("lab server started", "scenario", string(sc), "addr", ln.Addr().String())
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Scenario is the server's scenario.
func (s *Server) Scenario() Scenario { return s.sc }

// Hostname is the name the server announces.
func (s *Server) Hostname() string { return s.opts.Hostname }

// CA is the CA that issued the server's certificate (the root when the
// scenario uses an intermediate).
func (s *Server) CA() *CA { return s.ca }

// Certificate is the certificate the server presents (with its full chain,
// even when the scenario withholds part of it).
func (s *Server) Certificate() *Issued { return s.issued }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:     s.stats.connections.Load(),
		StartTLS:        s.stats.startTLS.Load(),
		Handshakes:      s.stats.handshakes.Load(),
		HandshakeErrors: s.stats.handshakeErrors.Load(),
		Quits:           s.stats.quits.Load(),
		MailCommands:    s.stats.mail.Load(),
	}
}

// Close stops the listener, closes every connection and waits for all of
// the server's goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.stopCtx()
		close(s.done)
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("lab: close listener: %w", err)
		}
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Logger.Debug("lab accept", "err", err)
			// Transient (e.g. EMFILE): back off briefly.
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if !s.track(conn) {
			_ = conn.Close()
			return
		}
		s.stats.connections.Add(1)
		s.wg.Add(1)
		go s.serve(conn)
	}
}

// track registers a connection; false when the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	defer s.untrack(conn)
	defer conn.Close()
	limit := time.AfterFunc(s.opts.SessionLimit, func() { _ = conn.Close() })
	defer limit.Stop()
	sess := newSession(s, conn)
	if err := sess.run(); err != nil {
		s.opts.Logger.Debug("lab session ended", "scenario", string(s.sc), "remote", conn.RemoteAddr().String(), "err", err)
	}
}
