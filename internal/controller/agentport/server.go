package agentport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// Session is one streaming call's handler. The connection's goroutine calls
// Handle for each request message in order and sends resp (when not nil);
// done ends the call with OK after resp, an error ends it with that error's
// gRPC status. Close is called once when the call ends for any reason.
type Session interface {
	Handle(ctx context.Context, req proto.Message) (resp proto.Message, done bool, err error)
	Close()
}

// Method is one RPC the endpoint serves: streaming (Open) or unary (Unary).
type Method struct {
	// Name is the full method name, "/package.Service/Method".
	Name string
	// NewRequest returns an empty request message to unmarshal into.
	NewRequest func() proto.Message
	Open       func(ctx context.Context) Session
	Unary      func(ctx context.Context, req proto.Message) (proto.Message, error)
	// MaxRequest bounds one request message (0: Config.MaxMessage).
	MaxRequest int
}

// Config configures a Server.
type Config struct {
	Methods []Method
	// Authorize runs before a call starts, with the connection's peer in
	// ctx; the context it returns is the call's (nil: allow all).
	Authorize func(ctx context.Context, fullMethod string) (context.Context, error)
	// MaxMessage bounds a request message (default 4 MiB).
	MaxMessage int
	// PrefaceTimeout bounds the HTTP/2 preface and first SETTINGS of a
	// connection (default 10s).
	PrefaceTimeout time.Duration
	Logger         *slog.Logger
}

// Server serves agent connections, one goroutine each (the caller's).
type Server struct {
	cfg     Config
	methods map[string]*Method
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	bufs    bufPool

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup

	protocolErrors atomic.Uint64
}

// New returns a server; hand it connections with ServeConn.
func New(cfg Config) *Server {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 4 << 20
	}
	if cfg.PrefaceTimeout <= 0 {
		cfg.PrefaceTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, methods: map[string]*Method{}, log: cfg.Logger, conns: map[*conn]struct{}{}}
	for i := range cfg.Methods {
		m := &cfg.Methods[i]
		if m.MaxRequest <= 0 {
			m.MaxRequest = cfg.MaxMessage
		}
		s.methods[m.Name] = m
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Handles reports whether fullMethod is served here.
func (s *Server) Handles(fullMethod string) bool { return s.methods[fullMethod] != nil }

// ServeConn serves one connection on the calling goroutine until it ends.
// state is the connection's TLS state (nil without TLS); the calls see it
// as their peer's credentials.TLSInfo, as with grpc-go.
func (s *Server) ServeConn(nc net.Conn, state *tls.ConnectionState) {
	c := &conn{srv: s, nc: nc, recvWindow: initialConnWindow, sendWindow: defaultWindow, peerInitialWindow: defaultWindow, peerMaxFrame: maxFrameSize, tokens: calmBurst}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	p := &peer.Peer{Addr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr()}
	if state != nil {
		p.AuthInfo = credentials.TLSInfo{State: *state, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	}
	c.base = peer.NewContext(s.ctx, p)
	c.run()
}

// Connections is the number of connections being served.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ProtocolErrors counts connections ended because the peer broke HTTP/2 or
// a limit.
func (s *Server) ProtocolErrors() uint64 { return s.protocolErrors.Load() }

// Shutdown sends GOAWAY on every connection, closes them, cancels the calls'
// contexts and waits (until ctx ends) for their goroutines to return.
// Agents reconnect, to another node when this one is going away.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAwayAndClose()
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
