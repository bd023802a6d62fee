package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Config is one controller node's configuration.
type Config struct {
	NodeID        string
	DataDir       string
	GRPCListen    string
	GRPCAdvertise string // address agents are told to use; defaults to the bound gRPC address
	HTTPListen    string
	RaftListen    string
	RaftAdvertise string
	Bootstrap     bool
	Plan          ingest.Plan
	Logger        *slog.Logger
	// Extra HTTP handlers (dashboard) mounted on the HTTP mux.
	Extra map[string]http.Handler
}

// Node is a running controller.
type Node struct {
	cfg      Config
	store    *store.Store
	grpcLn   net.Listener
	httpLn   net.Listener
	grpc     *grpc.Server
	http     *http.Server
	registry *prometheus.Registry
	log      *slog.Logger
}

// Start opens the store and binds the listeners. Call Run to serve.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, registry: prometheus.NewRegistry(), log: cfg.Logger}
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var err error
	if n.grpcLn, err = net.Listen("tcp", cfg.GRPCListen); err != nil {
		return nil, fmt.Errorf("node: grpc listen %s: %w", cfg.GRPCListen, err)
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		n.grpcLn.Close()
		return nil, fmt.Errorf("node: http listen %s: %w", cfg.HTTPListen, err)
	}
	if n.cfg.GRPCAdvertise == "" {
		n.cfg.GRPCAdvertise = advertisable(n.grpcLn.Addr().String())
	}
	n.store, err = store.Open(store.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, RaftBind: cfg.RaftListen, RaftAdvertise: cfg.RaftAdvertise,
		Bootstrap: cfg.Bootstrap, Logger: cfg.Logger,
	})
	if err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		return nil, err
	}
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
	agentSrv := ingest.NewServer(&nodeView{Store: n.store, n: n}, committer, n.cfg.Plan, metrics, n.log)
	apiSvc := api.NewService(n.store)

	n.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(8<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	mxv1.RegisterAgentServiceServer(n.grpc, agentSrv)
	mxv1.RegisterControllerServiceServer(n.grpc, apiSvc)

	handler, err := api.NewHTTPHandler(ctx, api.HTTPConfig{Service: apiSvc, Ready: n.ready, Gatherer: n.registry, Extra: n.cfg.Extra})
	if err != nil {
		return err
	}
	n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); _ = committer.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := n.grpc.Serve(n.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("node: grpc: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
}

func (n *Node) ready() error {
	if id, _ := n.store.Leader(); id == "" {
		return errors.New("no known leader")
	}
	return nil
}

// nodeView adapts the store to what ingest needs.
type nodeView struct {
	*store.Store
	n *Node
}

// LeaderAgentAddress returns this node's gRPC address when it leads. Other
// nodes' agent addresses are unknown to a single node.
func (v *nodeView) LeaderAgentAddress() (string, string) {
	id, _ := v.Leader()
	if id == v.NodeID() {
		return id, v.n.cfg.GRPCAdvertise
	}
	return id, ""
}

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
