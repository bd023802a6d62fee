package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/agentport"
	"github.com/mxprobe/mxprobe/internal/controller/api"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/cluster"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/web"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// Config is one controller node's configuration.
type Config struct {
	NodeID        string
	DataDir       string
	GRPCListen    string
	GRPCAdvertise string // address other nodes (and agents) use; defaults to the bound gRPC address
	// AgentAdvertise is the address agents are redirected to when this
	// node leads, if not GRPCAdvertise.
	AgentAdvertise string
	HTTPListen     string
	RaftListen     string
	RaftAdvertise  string
	Bootstrap      bool
	HTTPAdvertise  string
	// Cluster formation and membership.
	BootstrapExpect   int
	RetryJoin         []string
	DeadServerTimeout time.Duration
	SnapshotThreshold uint64
	// TLS is the cluster identity (raft and node-to-node gRPC); its
	// certificate is also what agents and API clients see. nil: plaintext.
	TLS *tlsutil.Mutual
	// Insecure: no TLS, no authentication (dev, demo, labs). Start refuses
	// a configuration without TLS unless this is set.
	Insecure bool
	// AgentCA signs and verifies agent certificates (enrollment, mTLS).
	AgentCA      *pki.CA
	AgentCertTTL time.Duration
	// BootstrapToken is an admin API credential from configuration.
	BootstrapToken string
	// MetricsPublic leaves /metrics open without a token.
	MetricsPublic bool
	// Pprof serves /debug/pprof/ (admin token unless insecure).
	Pprof bool
	// Rate limits (0: defaults; negative: off).
	TokenRate, AgentBatchRate float64
	Plan                      ingest.Plan
	Logger                    *slog.Logger
	// Raft timing overrides for tests (zero: raft defaults).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Correlation configures the leader-only correlation loop (issue 5).
	Correlation correlate.LoopConfig
	// Notify configures the leader-only notification sender (issue 6).
	Notify notify.Config
	// Extra HTTP handlers (dashboard) mounted on the HTTP mux.
	Extra map[string]http.Handler
}

// Node is a running controller.
type Node struct {
	cfg      Config
	tracker  *trackingListener
	auth     *auth.Authenticator
	store    *store.Store
	cluster  *cluster.Cluster
	pool     *cluster.Pool
	grpcLn   net.Listener
	httpLn   net.Listener
	grpc     *grpc.Server
	lean     *agentport.Server // agent-certificate connections (TLS only)
	router   *agentport.Router
	http     *http.Server
	registry *prometheus.Registry
	log      *slog.Logger
}

// Start opens the store and binds the listeners. Call Run to serve.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !cfg.Insecure && (cfg.TLS == nil || cfg.AgentCA == nil) {
		return nil, ErrInsecureConfig
	}
	if err := checkAgentAdvertise(cfg.AgentAdvertise); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, registry: prometheus.NewRegistry(), log: cfg.Logger}
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var err error
	ln, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return nil, fmt.Errorf("node: grpc listen %s: %w", cfg.GRPCListen, err)
	}
	n.tracker = newTrackingListener(ln)
	n.grpcLn = n.tracker
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		n.grpcLn.Close()
		return nil, fmt.Errorf("node: http listen %s: %w", cfg.HTTPListen, err)
	}
	if n.cfg.GRPCAdvertise == "" {
		n.cfg.GRPCAdvertise = advertisable(n.grpcLn.Addr().String())
	}
	if n.cfg.HTTPAdvertise == "" {
		n.cfg.HTTPAdvertise = advertisable(n.httpLn.Addr().String())
	}
	if n.cfg.RaftAdvertise == "" {
		n.cfg.RaftAdvertise = cfg.RaftListen
	}
	var raftTLS *store.TLS
	if cfg.TLS != nil {
		raftTLS = &store.TLS{Server: cfg.TLS.Server, Client: cfg.TLS.Client}
	}
	n.store, err = store.Open(store.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, RaftBind: cfg.RaftListen, RaftAdvertise: n.cfg.RaftAdvertise,
		Bootstrap: cfg.Bootstrap, Logger: cfg.Logger, TLS: raftTLS, SnapshotThreshold: cfg.SnapshotThreshold,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout, LeaderLeaseTimeout: cfg.LeaderLeaseTimeout,
	})
	if err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		return nil, err
	}
	var clientTLS *tls.Config
	if cfg.TLS != nil {
		clientTLS = cfg.TLS.Client
	}
	n.pool = cluster.NewPool(clientTLS)
	n.cluster = cluster.New(n.store, n.pool, cluster.Config{
		Self:            &mxv1.NodeInfo{NodeId: cfg.NodeID, RaftAddress: n.cfg.RaftAdvertise, GrpcAddress: n.cfg.GRPCAdvertise, HttpAddress: n.cfg.HTTPAdvertise, AgentAddress: n.cfg.AgentAdvertise},
		BootstrapExpect: cfg.BootstrapExpect, RetryJoin: cfg.RetryJoin, DeadServerTimeout: cfg.DeadServerTimeout, Logger: cfg.Logger,
	})
	return n, nil
}

// GRPCAddr is the bound gRPC address.
func (n *Node) GRPCAddr() string { return n.grpcLn.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// Store exposes the raft store (tests, CLI).
func (n *Node) Store() *store.Store { return n.store }

// Run serves until ctx ends, then shuts everything down.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	metrics := ingest.NewMetrics(n.registry)
	committer := ingest.NewCommitter(n.store, ingest.CommitterConfig{}, metrics)
	n.auth = auth.New(n.authConfig())
	var enroll *ingest.Enrollment
	if n.cfg.AgentCA != nil {
		enroll = &ingest.Enrollment{CA: n.cfg.AgentCA, TTL: n.cfg.AgentCertTTL, Leader: func() (mxv1.AgentServiceClient, error) {
			conn, err := n.cluster.LeaderConn()
			if err != nil {
				return nil, err
			}
			return mxv1.NewAgentServiceClient(conn), nil
		}}
	}
	agentSrv := ingest.NewServer(&nodeView{Store: n.store, n: n}, committer, n.cfg.Plan, metrics, n.log,
		ingest.Options{Enrollment: enroll, Closer: n.tracker, ReserveBatch: n.auth.ReserveBatch})
	apiSvc := api.NewService(n.store, n.cluster)
	apiSvc.SetStaleAfter(3*n.cfg.Plan.Interval + n.cfg.Plan.Jitter)
	n.registry.MustRegister(newRaftCollector(n.store))
	n.store.OnLeadership(correlate.NewLoop(n.store, n.correlationConfig()).Run)
	if err := n.startNotify(); err != nil {
		return err
	}

	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(8 << 20),
		// Thousands of mostly idle agent streams: release the per-connection
		// write buffer between writes and keep read buffers small (none
		// under TLS, see readBufferSize).
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(n.readBufferSize()),
		grpc.WriteBufferSize(8 << 10),
		// No server-initiated pings (grpc-go's keepalive goroutine runs per
		// connection either way; pings would add traffic to every idle
		// stream): agents ping every 30s and the OS's TCP keepalive (15s, Go's
		// default on accepted connections) reaps dead peers.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// A peer that never completes the TLS/HTTP2 handshake is dropped.
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.MaxConcurrentStreams(64),
		grpc.ChainUnaryInterceptor(n.auth.Unary),
		grpc.ChainStreamInterceptor(n.auth.Stream),
	}
	serveLn := n.grpcLn
	switch {
	case n.cfg.TLS != nil && n.cfg.AgentCA != nil:
		// The router finishes TLS: agents go to the lean endpoint (one
		// goroutine per connection, see agentport), the rest to grpc-go.
		n.lean = agentport.New(agentport.Config{Methods: agentSrv.LeanMethods(), Authorize: n.auth.Authorize,
			MaxMessage: 8 << 20, Logger: n.log.With("component", "agentport")})
		n.router = agentport.NewRouter(n.grpcLn, n.serverTLS(), n.isAgentConn, n.lean, n.log.With("component", "agentport"))
		n.registerAgentPortMetrics()
		opts = append(opts, grpc.Creds(agentport.Handshaken()))
		serveLn = n.router
	case n.cfg.TLS != nil:
		opts = append(opts, grpc.Creds(credentials.NewTLS(n.serverTLS())))
	}
	n.grpc = grpc.NewServer(opts...)
	mxv1.RegisterAgentServiceServer(n.grpc, agentSrv)
	mxv1.RegisterControllerServiceServer(n.grpc, apiSvc)
	mxv1.RegisterAuthServiceServer(n.grpc, api.NewAuthService(n.store, n.cluster))
	mxv1.RegisterClusterServiceServer(n.grpc, cluster.NewService(n.cluster))
	self, err := n.selfConn()
	if err != nil {
		return err
	}
	defer self.Close()

	var metricsAuth func(*http.Request) error
	if !n.cfg.MetricsPublic {
		metricsAuth = n.auth.HTTPRead
	}
	var adminAuth func(*http.Request) error
	if !n.cfg.Insecure {
		adminAuth = n.auth.HTTPAdmin
	}
	// The dashboard (issue 9) at "/", unless Extra mounts its own there.
	extra := web.New(web.Config{State: n.store.State(), AppliedIndex: n.store.AppliedIndex, Auth: n.auth, Insecure: n.cfg.Insecure,
		SecureCookie: n.cfg.TLS != nil, NodeID: n.cfg.NodeID, StaleAfter: 3*n.cfg.Plan.Interval + n.cfg.Plan.Jitter, Logger: n.log.With("component", "web")}).Routes()
	maps.Copy(extra, n.cfg.Extra)
	if n.cfg.Pprof {
		extra["/debug/pprof/"] = profiles(adminAuth)
	}
	handler, err := api.NewHTTPHandler(ctx, api.HTTPConfig{Conn: self, Ready: n.ready, Gatherer: n.registry, Extra: extra, MetricsAuth: metricsAuth,
		Backup: n.backup, Restore: n.restore, AdminAuth: adminAuth})
	if err != nil {
		return err
	}
	n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(5)
	go func() { defer wg.Done(); _ = committer.Run(ctx) }()
	go func() { defer wg.Done(); agentSrv.WatchRevocations(ctx, time.Second) }()
	go func() { defer wg.Done(); _ = n.cluster.Run(ctx) }()
	if n.router != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.router.Run(ctx) }()
	}
	go func() {
		defer wg.Done()
		if err := n.grpc.Serve(serveLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("node: grpc: %w", err)
		}
	}()
	httpLn := n.httpLn
	if n.cfg.TLS != nil {
		// API tokens never travel in clear text: the HTTP port speaks TLS
		// with the node's certificate whenever the cluster has one.
		httpLn = tls.NewListener(n.httpLn, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: n.cfg.TLS.Server.Certificates})
	}
	go func() {
		defer wg.Done()
		if err := n.http.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("node: http: %w", err)
		}
	}()
	n.log.Info("controller serving", "node", n.cfg.NodeID, "grpc", n.GRPCAddr(), "http", n.HTTPAddr(), "raft", n.cfg.RaftListen)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	n.shutdown()
	wg.Wait()
	return runErr
}

func (n *Node) shutdown() {
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if n.store.IsLeader() {
		if voters, err := n.store.Voters(); err == nil && voters > 1 {
			if err := n.store.TransferLeadership(""); err != nil {
				n.log.Warn("leadership transfer on shutdown failed", "err", err)
			}
		}
	}
	_ = n.http.Shutdown(sctx)
	stopped := make(chan struct{})
	go func() { n.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		n.grpc.Stop()
		<-stopped
	}
	if n.lean != nil {
		_ = n.router.Close()
		if err := n.lean.Shutdown(sctx); err != nil {
			n.log.Warn("agent connections did not end in time", "err", err)
		}
	}
	if err := n.store.Close(); err != nil {
		n.log.Warn("closing store", "err", err)
	}
	n.pool.Close()
}

// maxReadyLag is how many committed entries a node may still have to apply
// and count as caught up.
const maxReadyLag = 64

func (n *Node) ready() error {
	if id, _ := n.store.Leader(); id == "" {
		return errors.New("no known leader")
	}
	st, err := n.store.Status()
	if err != nil {
		return err
	}
	if st.CommitIndex > st.AppliedIndex+maxReadyLag {
		return fmt.Errorf("catching up: applied %d of %d", st.AppliedIndex, st.CommitIndex)
	}
	if st.State == "leader" && !n.store.LeaderReady() {
		return errors.New("leader still applying earlier entries")
	}
	return nil
}

// Cluster exposes the membership side (tests, CLI).
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// nodeView adapts the store to what ingest needs.
type nodeView struct {
	*store.Store
	n *Node
}

// LeaderAgentAddress is the address the leader registered for agents.
func (v *nodeView) LeaderAgentAddress() (string, string) { return v.n.cluster.LeaderAgent() }

// IsLeader for ingest means leadership is established (barrier done).
func (v *nodeView) IsLeader() bool { return v.LeaderReady() }

// advertisable turns a bound address such as [::]:7400 into one a local
// client can dial.
func advertisable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
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
