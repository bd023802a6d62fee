package node

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"

	"github.com/mxprobe/mxprobe/internal/controller/ingest"
)

// The gRPC port serves agents (Connect, Enroll, Renew), other nodes and API
// clients with one grpc-go server. Agents hold one mostly idle stream each,
// so the options below are chosen for many idle connections on the leader;
// the figures are in docs/operations.md "Sizing".
const (
	// maxRequest bounds one request message (a result batch with large
	// certificate listings fits many times over).
	maxRequest = 8 << 20
	// maxHeaderList bounds a request's header block (gRPC metadata), so an
	// endless CONTINUATION sequence ends the connection early.
	maxHeaderList = 64 << 10
	// maxStreams bounds concurrent calls per connection. An agent uses one
	// stream and an occasional Renew; nodes forward API calls on theirs.
	maxStreams = 64
	// handshakeTimeout bounds the TLS handshake and the HTTP/2 preface of
	// a new connection: a peer that opens a socket and says nothing is
	// dropped.
	handshakeTimeout = 10 * time.Second
	// maxConnectionIdle closes connections without a call (enrollment,
	// Renew, idle API clients) after this long.
	maxConnectionIdle = 5 * time.Minute
	// maxConnectionAge makes every connection reconnect after about an
	// hour (grpc-go adds +/-10% jitter, so a fleet that connected at once
	// after a rolling restart does not come back at once): a connection
	// re-authenticates with its current certificate (a renewed or expired
	// one takes effect) and lands on the current leader. The grace lets
	// the batch in flight be acknowledged; the agent's spool resends
	// anything that was not.
	maxConnectionAge      = time.Hour
	maxConnectionAgeGrace = 30 * time.Second
	// serverPingAfter: a connection with no traffic for this long is
	// pinged and closed when the ping is not answered within
	// serverPingTimeout. Live agents ping every 10 s themselves, so the
	// server never pings them; this reaps peers that stop reading.
	serverPingAfter   = 2 * time.Minute
	serverPingTimeout = 20 * time.Second
	// minClientPing: agents ping every 10 s (grpc-go's shortest, so that
	// an agent notices a paused node); half that here, so a ping the
	// network delayed next to one it did not never counts as too often. A
	// peer pinging more often than this (more than twice in a row) gets
	// GOAWAY ENHANCE_YOUR_CALM.
	minClientPing = 5 * time.Second
)

// grpcOptions are the gRPC server's options: limits, keepalive, the
// authentication policy as interceptors (agents by their certificate from
// the agent CA and revocation, nodes by the cluster certificate, API
// clients by token; see package auth) and TLS when the cluster has it.
func (n *Node) grpcOptions() []grpc.ServerOption {
	handshake := handshakeTimeout
	if n.cfg.handshakeTimeout > 0 {
		handshake = n.cfg.handshakeTimeout
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRequest),
		grpc.MaxHeaderListSize(maxHeaderList),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(handshake),
		// Thousands of mostly idle agent streams: release the per-connection
		// write buffer between writes and keep read buffers small (none
		// under TLS, see readBufferSize).
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(n.readBufferSize()),
		grpc.WriteBufferSize(8 << 10),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPing, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnectionIdle,
			MaxConnectionAge:  maxConnectionAge, MaxConnectionAgeGrace: maxConnectionAgeGrace,
			Time: serverPingAfter, Timeout: serverPingTimeout,
		}),
		grpc.StatsHandler(n.conns),
		// Agents' result batches go into raft as the bytes they arrived in.
		grpc.ForceServerCodecV2(ingest.ServerCodec()),
		grpc.ChainUnaryInterceptor(n.auth.Unary),
		grpc.ChainStreamInterceptor(n.auth.Stream),
	}
	opts = append(opts, newGRPCGuard(n.auth).serverOptions()...) // see grpcguard.go
	if n.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(n.serverTLS())))
	}
	return opts
}

// readBufferSize is gRPC's per-connection read buffer. Under TLS it is 0:
// crypto/tls already reads whole records into its own buffer, so a second
// buffer would only copy bytes again and hold 8 KiB per idle agent stream.
// Without TLS (labs) the buffer saves two read syscalls per HTTP/2 frame.
func (n *Node) readBufferSize() int {
	if n.cfg.TLS != nil {
		return 0
	}
	return 8 << 10
}

// connCounter counts the gRPC port's open connections (a stats handler:
// grpc-go reports each connection's begin and end).
type connCounter struct{ open atomic.Int64 }

func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c *connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (c *connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.open.Add(1)
	case *stats.ConnEnd:
		c.open.Add(-1)
	}
}

func (c *connCounter) collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mxprobe_grpc_connections",
		Help: "Connections the gRPC port serves (agents, other nodes, API clients)."}, func() float64 { return float64(c.open.Load()) })
}
