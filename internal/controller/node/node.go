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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/cluster"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/dirlock"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/web"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// Config is one controller node's configuration.
type Config struct {
	NodeID  string
	DataDir string
	// DataDirLockTimeout bounds the wait for a data directory another
	// process holds (0: dirlock.DefaultTimeout).
	DataDirLockTimeout time.Duration
	GRPCAdvertise      string // address other nodes (and agents) use; defaults to the bound gRPC address
	GRPCListen         string
	// AgentAdvertise is the address agents are redirected to when this
	// node leads, if not GRPCAdvertise.
	AgentAdvertise string
	HTTPListen     string
	// CommandClock stamps raft commands (default time.Now; tests replaying
	// dated TLS-RPT samples set it).
	CommandClock func() time.Time
	// TLSRPTListen is the TLS-RPT receiver's address ("" off; tlsrpt.go).
	TLSRPTListen string
	// TLSRPTExpireAfter: TLS-RPT results age when their domain's newest
	// report ended longer ago (tlsrpt.ExpireAfter of tlsrpt.stale_grace;
	// 0: tlsrpt.DefaultExpireAfter).
	TLSRPTExpireAfter time.Duration
	// tlsrptAgeEvery overrides the leader's ageing tick (tests).
	tlsrptAgeEvery time.Duration
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
	// Correlation configures the leader-only correlation loop.
	Correlation correlate.LoopConfig
	// Notify configures the leader-only notification sender.
	Notify notify.Config
	// Extra HTTP handlers (dashboard) mounted on the HTTP mux.
	Extra map[string]http.Handler
	// handshakeTimeout overrides the gRPC port's handshake bound (tests).
	handshakeTimeout time.Duration
	// BodyLimits bounds request bodies on the HTTP port (zero: defaults).
	BodyLimits api.BodyLimits
}

// MaxMessageBytes is the largest gRPC message a node accepts, and so the
// most the HTTP port's body limit may be (REST calls travel on as gRPC).
const MaxMessageBytes = maxRequest

// Node is a running controller.
type Node struct {
	cfg     Config
	tracker *trackingListener
	auth    *auth.Authenticator
	store   *store.Store
	cluster *cluster.Cluster
	pool    *cluster.Pool
	grpcLn  net.Listener
	httpLn  net.Listener
	grpc    *grpc.Server
	conns   *connCounter // the gRPC port's connections
	http    *http.Server
	// tlsrptLn: the TLS-RPT receiver's listener, bound by Start (nil: off; tlsrpt.go).
	tlsrptLn net.Listener
	registry *prometheus.Registry
	log      *slog.Logger
	dirLock  *dirlock.Lock
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

	// The data directory first: a second controller on it (a mistake)
	// gives up within seconds, naming the holder, instead of waiting on
	// BoltDB's lock forever; ctx (signals) ends the wait too.
	if cfg.DataDir != "" {
		cfg.Logger.Info("taking the data directory lock", "data_dir", cfg.DataDir)
		lock, err := dirlock.Acquire(ctx, cfg.DataDir, cfg.DataDirLockTimeout)
		if err != nil {
			return nil, err
		}
		n.dirLock = lock
	}
	started := false
	defer func() {
		if !started {
			_ = n.dirLock.Release()
		}
	}()
	var err error
	ln, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return nil, &ListenError{Setting: "grpc.listen", Addr: cfg.GRPCListen, Err: err}
	}
	n.tracker = newTrackingListener(ln)
	n.grpcLn = n.tracker
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		n.grpcLn.Close()
		return nil, &ListenError{Setting: "http.listen", Addr: cfg.HTTPListen, Err: err}
	}
	if cfg.TLSRPTListen != "" {
		if n.tlsrptLn, err = net.Listen("tcp", cfg.TLSRPTListen); err != nil {
			n.grpcLn.Close()
			n.httpLn.Close()
			return nil, &ListenError{Setting: "tlsrpt.listen", Addr: cfg.TLSRPTListen, Err: err}
		}
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
		Bootstrap: cfg.Bootstrap, Logger: cfg.Logger, TLS: raftTLS, SnapshotThreshold: cfg.SnapshotThreshold, Now: cfg.CommandClock,
		TLSRPTExpireAfter: cfg.TLSRPTExpireAfter, TLSRPTAgeEvery: cfg.tlsrptAgeEvery,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout, LeaderLeaseTimeout: cfg.LeaderLeaseTimeout,
	})
	if err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		if n.tlsrptLn != nil {
			n.tlsrptLn.Close()
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &ListenError{Setting: "raft.listen", Addr: cfg.RaftListen, Err: err}
		}
		return nil, err
	}
	var clientTLS *tls.Config
	if cfg.TLS != nil {
		clientTLS = cfg.TLS.Client
	}
	n.pool = cluster.NewPool(clientTLS)
	n.cluster = cluster.New(n.store, n.pool, cluster.Config{
		Self:            &mxv1.NodeInfo{NodeId: cfg.NodeID, RaftAddress: n.cfg.RaftAdvertise, GrpcAddress: n.cfg.GRPCAdvertise, HttpAddress: n.cfg.HTTPAdvertise, AgentAddress: n.cfg.AgentAdvertise, Features: store.Features()},
		BootstrapExpect: cfg.BootstrapExpect, RetryJoin: cfg.RetryJoin, DeadServerTimeout: cfg.DeadServerTimeout, Logger: cfg.Logger,
	})
	started = true
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
	n.conns = &connCounter{}
	n.registry.MustRegister(newRaftCollector(n.store), n.fleetCollector(), n.conns.collector())
	n.store.OnLeadership(correlate.NewLoop(n.store, n.correlationConfig()).Run)
	n.store.OnLeadership(agentSrv.WhileLeading)
	if err := n.startNotify(); err != nil {
		return err
	}

	n.grpc = grpc.NewServer(n.grpcOptions()...)
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
	var adminAuth, authenticate func(*http.Request) error
	if !n.cfg.Insecure {
		adminAuth, authenticate = n.auth.HTTPAdmin, n.auth.HTTPAuthenticated
	}
	// The dashboard at "/", unless Extra mounts its own there.
	// Its actions are API calls over the node's own gRPC port with the
	// signed-in user's token.
	extra := web.New(web.Config{State: n.store.State(), AppliedIndex: n.store.AppliedIndex, Auth: n.auth, Insecure: n.cfg.Insecure,
		Actions: mxv1.NewControllerServiceClient(self), Preflight: mxv1.NewControllerServiceClient(self), IncidentRetention: n.cfg.Correlation.Engine.WithDefaults().Retention,
		SecureCookie: n.cfg.TLS != nil, NodeID: n.cfg.NodeID, StaleAfter: 3*n.cfg.Plan.Interval + n.cfg.Plan.Jitter, TLSRPTExpireAfter: n.cfg.TLSRPTExpireAfter, Logger: n.log.With("component", "web")}).Routes()
	maps.Copy(extra, n.cfg.Extra)
	if n.cfg.Pprof {
		extra["/debug/pprof/"] = profiles(adminAuth)
	}
	handler, err := api.NewHTTPHandler(ctx, api.HTTPConfig{Conn: self, Ready: n.ready, Gatherer: n.registry, Extra: extra, MetricsAuth: metricsAuth,
		Backup: n.backup, Restore: n.restore, AdminAuth: adminAuth, RestoreCheck: n.canRestore, RestoreDir: n.cfg.DataDir,
		Authenticate: authenticate, Limits: n.cfg.BodyLimits})
	if err != nil {
		return err
	}
	// No ReadTimeout: event streams and restores run long. The headers
	// must arrive within 10s, and each body within api.BodyLimits'
	// timeout, set per request once the caller is authenticated.
	n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}

	// Every part runs in one group: the first to fail (or ctx ending) stops
	// the node, shutdown runs once, and Run returns the first error.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return committer.Run(gctx) })
	g.Go(func() error { agentSrv.WatchRevocations(gctx, time.Second); return nil })
	g.Go(func() error { return n.cluster.Run(gctx) })
	g.Go(func() error {
		if err := n.grpc.Serve(n.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("node: grpc: %w", err)
		}
		return nil
	})
	httpLn := n.httpLn
	if n.cfg.TLS != nil {
		// API tokens never travel in clear text: the HTTP port speaks TLS
		// with the node's certificate whenever the cluster has one.
		httpLn = tls.NewListener(n.httpLn, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: n.cfg.TLS.Server.Certificates})
	}
	g.Go(func() error {
		if err := n.http.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("node: http: %w", err)
		}
		return nil
	})
	stopTLSRPT, err := n.serveTLSRPT(g)
	if err != nil {
		g.Go(func() error { return err })
		stopTLSRPT = func() {}
	}
	g.Go(func() error {
		<-gctx.Done()
		stopTLSRPT()
		n.shutdown()
		return nil
	})
	n.log.Info("controller serving", "node", n.cfg.NodeID, "grpc", n.GRPCAddr(), "http", n.HTTPAddr(), "raft", n.cfg.RaftListen)
	return g.Wait()
}

func (n *Node) shutdown() {
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if n.store.IsLeader() {
		if voters, err := n.store.Voters(); err == nil && voters > 1 {
			if err := n.store.TransferLeadership(sctx, ""); err != nil {
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
	if err := n.store.Close(); err != nil {
		n.log.Warn("closing store", "err", err)
	}
	n.pool.Close()
	if err := n.dirLock.Release(); err != nil {
		n.log.Warn("releasing the data directory lock", "err", err)
	}
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
