package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// ErrNoLeader: no leader is known (election in progress or no quorum).
var ErrNoLeader = errors.New("cluster: no known leader")

// Config configures cluster membership for one node.
type Config struct {
	Self            *mxv1.NodeInfo
	BootstrapExpect int
	RetryJoin       []string
	// RetryInterval between formation attempts (default 2s).
	RetryInterval time.Duration
	// DeadServerTimeout: remove voters unreachable for this long (0: never).
	DeadServerTimeout time.Duration
	// HealthInterval of the leader's peer polling (default 2s).
	HealthInterval time.Duration
	Logger         *slog.Logger
}

// Cluster is the membership side of one node.
type Cluster struct {
	cfg   Config
	store *store.Store
	pool  *Pool
	log   *slog.Logger

	mu     sync.Mutex
	health map[string]*peerHealth
}

type peerHealth struct {
	lastContact  time.Time
	appliedIndex uint64
	healthy      bool
	firstFailure time.Time
}

// New wires membership for st. Call Run to form or join a cluster and
// register the leader's loops.
func New(st *store.Store, pool *Pool, cfg Config) *Cluster {
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 2 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cluster{cfg: cfg, store: st, pool: pool, log: cfg.Logger, health: map[string]*peerHealth{}}
	st.OnLeadership(c.leaderLoop)
	return c
}

// Self is this node's addresses.
func (c *Cluster) Self() *mxv1.NodeInfo { return c.cfg.Self }

// LeaderGRPC returns the leader's id and registered gRPC address.
func (c *Cluster) LeaderGRPC() (id, addr string) {
	id, _ = c.store.Leader()
	if id == "" {
		return "", ""
	}
	if id == c.cfg.Self.GetNodeId() {
		return id, c.cfg.Self.GetGrpcAddress()
	}
	return id, c.store.State().Node(id).GetGrpcAddress()
}

// LeaderAgent is the leader's id and the address agents should use for it:
// its agent address when it registered one, else its gRPC address.
func (c *Cluster) LeaderAgent() (id, addr string) {
	id, addr = c.LeaderGRPC()
	if id == "" {
		return "", ""
	}
	info := c.cfg.Self
	if id != info.GetNodeId() {
		info = c.store.State().Node(id)
	}
	if a := info.GetAgentAddress(); a != "" {
		return id, a
	}
	return id, addr
}

// LeaderConn returns a connection to the leader (which must not be this node).
func (c *Cluster) leaderConn() (*mxv1.NodeInfo, error) {
	id, addr := c.LeaderGRPC()
	if id == "" || addr == "" {
		return nil, ErrNoLeader
	}
	return &mxv1.NodeInfo{NodeId: id, GrpcAddress: addr}, nil
}

// ControllerClient returns a ControllerService client on the leader.
func (c *Cluster) ControllerClient() (mxv1.ControllerServiceClient, error) {
	l, err := c.leaderConn()
	if err != nil {
		return nil, err
	}
	conn, err := c.pool.Conn(l.GetGrpcAddress())
	if err != nil {
		return nil, err
	}
	return mxv1.NewControllerServiceClient(conn), nil
}

// Run forms or joins the cluster (when configured) and returns once this
// node is a member, or ctx ends. Without bootstrap_expect and retry_join it
// returns at once.
func (c *Cluster) Run(ctx context.Context) error {
	if len(c.cfg.RetryJoin) == 0 {
		return nil
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		done, err := c.formOnce(ctx)
		if done {
			return nil
		}
		if err != nil {
			c.log.Info("cluster formation: not yet", "reason", err)
		}
		t.Reset(c.cfg.RetryInterval)
	}
}

// formOnce makes one formation attempt; true when this node is a member.
func (c *Cluster) formOnce(ctx context.Context) (bool, error) {
	has, err := c.store.HasState()
	if err != nil {
		return false, err
	}
	if has {
		return true, nil
	}
	var infos []*mxv1.InfoResponse
	var errs []error
	for _, addr := range c.cfg.RetryJoin {
		info, err := c.info(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.GetNode().GetNodeId() == c.cfg.Self.GetNodeId() {
			continue // our own address in the list
		}
		infos = append(infos, info)
	}
	// An existing cluster: join it.
	for _, info := range infos {
		if info.GetHasState() && info.GetLeaderId() != "" {
			if err := c.JoinVia(ctx, info.GetNode().GetGrpcAddress()); err != nil {
				return false, err
			}
			c.log.Info("joined existing cluster", "via", info.GetNode().GetNodeId(), "leader", info.GetLeaderId())
			return true, nil
		}
	}
	if c.cfg.BootstrapExpect <= 0 {
		return false, fmt.Errorf("no reachable cluster with a leader (%d peers answered, %v)", len(infos), errors.Join(errs...))
	}
	nodes := map[string]*mxv1.NodeInfo{c.cfg.Self.GetNodeId(): c.cfg.Self}
	for _, info := range infos {
		if info.GetHasState() {
			return false, fmt.Errorf("peer %s has raft state but no leader yet", info.GetNode().GetNodeId())
		}
		if int(info.GetBootstrapExpect()) != c.cfg.BootstrapExpect {
			return false, fmt.Errorf("peer %s expects %d nodes, this node %d", info.GetNode().GetNodeId(), info.GetBootstrapExpect(), c.cfg.BootstrapExpect)
		}
		nodes[info.GetNode().GetNodeId()] = info.GetNode()
	}
	if len(nodes) < c.cfg.BootstrapExpect {
		return false, fmt.Errorf("found %d of %d expected nodes", len(nodes), c.cfg.BootstrapExpect)
	}
	if len(nodes) > c.cfg.BootstrapExpect {
		return false, fmt.Errorf("found %d nodes but bootstrap_expect is %d: refusing to guess the voter set", len(nodes), c.cfg.BootstrapExpect)
	}
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{ID: raft.ServerID(n.GetNodeId()), Address: raft.ServerAddress(n.GetRaftAddress()), Suffrage: raft.Voter})
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	if err := c.store.BootstrapWith(servers); err != nil {
		return false, err
	}
	return true, nil
}

func (c *Cluster) info(ctx context.Context, addr string) (*mxv1.InfoResponse, error) {
	conn, err := c.pool.Conn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := mxv1.NewClusterServiceClient(conn).Info(ctx, &mxv1.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("info %s: %w", addr, err)
	}
	return resp, nil
}

// JoinVia asks the node at addr (any member) to add this node as a voter.
func (c *Cluster) JoinVia(ctx context.Context, addr string) error {
	conn, err := c.pool.Conn(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if _, err := mxv1.NewClusterServiceClient(conn).Join(ctx, &mxv1.JoinRequest{Node: c.cfg.Self}); err != nil {
		return fmt.Errorf("join via %s: %w", addr, err)
	}
	return nil
}

// join adds node as a voter (leader) or forwards to the leader.
func (c *Cluster) join(ctx context.Context, n *mxv1.NodeInfo) (string, error) {
	if err := validNode(n); err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	if c.store.IsLeader() {
		if err := c.store.AddVoter(ctx, n.GetNodeId(), n.GetRaftAddress()); err != nil {
			return "", toStatus(err)
		}
		if err := c.store.RegisterNode(ctx, n); err != nil {
			return "", toStatus(err)
		}
		return c.cfg.Self.GetNodeId(), nil
	}
	l, err := c.leaderConn()
	if err != nil {
		return "", status.Error(codes.Unavailable, err.Error())
	}
	conn, err := c.pool.Conn(l.GetGrpcAddress())
	if err != nil {
		return "", status.Error(codes.Unavailable, err.Error())
	}
	resp, err := mxv1.NewClusterServiceClient(conn).Join(ctx, &mxv1.JoinRequest{Node: n})
	if err != nil {
		return "", err
	}
	return resp.GetLeaderId(), nil
}

func validNode(n *mxv1.NodeInfo) error {
	if n.GetNodeId() == "" || len(n.GetNodeId()) > 128 {
		return errors.New("node_id is required (at most 128 bytes)")
	}
	if n.GetRaftAddress() == "" || n.GetGrpcAddress() == "" {
		return errors.New("raft_address and grpc_address are required")
	}
	return nil
}

// toStatus maps store errors to gRPC status codes.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, store.ErrNotPeer):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

// LeaderConn returns a connection to the leader.
func (c *Cluster) LeaderConn() (*grpc.ClientConn, error) {
	l, err := c.leaderConn()
	if err != nil {
		return nil, err
	}
	return c.pool.Conn(l.GetGrpcAddress())
}
