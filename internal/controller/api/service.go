package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/cluster"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// forwardedKey marks a call forwarded by another node: it is never
// forwarded again (no loops while leadership moves).
const forwardedKey = "mxprobe-forwarded"

// forwardTimeout bounds a forwarded call without its own deadline.
const forwardTimeout = 15 * time.Second

// Node is the part of the raft node the API uses.
type Node interface {
	State() *store.State
	Status() (store.Status, error)
	IsLeader() bool
	ConsistentRead(ctx context.Context) error
	RemovePeer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
}

// Cluster is the membership side the API uses.
type Cluster interface {
	ControllerClient() (mxv1.ControllerServiceClient, error)
	LeaderConn() (*grpc.ClientConn, error)
	JoinVia(ctx context.Context, addr string) error
	Health() map[string]cluster.PeerHealth
	LeaderGRPC() (id, addr string)
}

// Service implements mxprobe.v1.ControllerService.
type Service struct {
	mxv1.UnimplementedControllerServiceServer
	node    Node
	cluster Cluster
	// staleAfter marks agents stale in ListSites (inventory.go).
	staleAfter time.Duration
}

// NewService returns the ControllerService implementation.
func NewService(node Node, c Cluster) *Service { return &Service{node: node, cluster: c} }

// forward is a call to pass on to the leader.
type forward struct {
	cl     mxv1.ControllerServiceClient
	ctx    context.Context
	cancel context.CancelFunc
}

// leaderOrForward returns nil when this node should answer (it leads), or
// the forward to the leader. The caller must call fw.cancel.
func (s *Service) leaderOrForward(ctx context.Context) (*forward, error) {
	if s.node.IsLeader() {
		return nil, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedKey)) > 0 {
		return nil, status.Error(codes.Unavailable, "not the leader (forwarded call)")
	}
	cl, err := s.cluster.ControllerClient()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	// Forwarded calls wait for the leader's connection: bound them.
	fctx, cancel := context.WithTimeout(forwardMetadata(ctx), forwardTimeout)
	return &forward{cl: cl, ctx: fctx, cancel: cancel}, nil
}

// forwardMetadata marks a call as forwarded and carries the caller's
// credentials, which the leader checks again.
func forwardMetadata(ctx context.Context) context.Context {
	pairs := []string{forwardedKey, "1"}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, v := range md.Get("authorization") {
			pairs = append(pairs, "authorization", v)
		}
	}
	return metadata.AppendToOutgoingContext(ctx, pairs...)
}

// readable prepares a read: a nil forward means answer locally.
func (s *Service) readable(ctx context.Context, stale bool) (*forward, error) {
	if stale {
		return nil, nil
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil || fw != nil {
		return fw, err
	}
	if err := s.node.ConsistentRead(ctx); err != nil {
		return nil, mapErr(err)
	}
	return nil, nil
}

// ListAgents lists agents, optionally of one site.
func (s *Service) ListAgents(ctx context.Context, req *mxv1.ListAgentsRequest) (*mxv1.ListAgentsResponse, error) {
	if len(req.GetSite()) > 128 {
		return nil, status.Error(codes.InvalidArgument, "site: longer than 128 characters")
	}
	site, err := siteFilter(ctx, req.GetSite())
	if err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListAgents(fw.ctx, req)
	}
	return &mxv1.ListAgentsResponse{Agents: s.node.State().Agents(site)}, nil
}

// ListFindings lists the latest findings, filtered.
func (s *Service) ListFindings(ctx context.Context, req *mxv1.ListFindingsRequest) (*mxv1.ListFindingsResponse, error) {
	if err := shortFields(map[string]string{"site": req.GetSite(), "agent_id": req.GetAgentId(), "code": req.GetCode()}); err != nil {
		return nil, err
	}
	if _, ok := mxv1.Severity_name[int32(req.GetMinSeverity())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "min_severity: unknown value %d", req.GetMinSeverity())
	}
	site, err := siteFilter(ctx, req.GetSite())
	if err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListFindings(fw.ctx, req)
	}
	return &mxv1.ListFindingsResponse{Findings: s.node.State().Findings(store.FindingFilter{
		Site: site, AgentID: req.GetAgentId(), Code: req.GetCode(), MinSeverity: req.GetMinSeverity(),
	})}, nil
}

// GetClusterStatus reports this node's raft view (never forwarded).
func (s *Service) GetClusterStatus(context.Context, *mxv1.GetClusterStatusRequest) (*mxv1.GetClusterStatusResponse, error) {
	st, err := s.node.Status()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &mxv1.GetClusterStatusResponse{
		NodeId: st.NodeID, State: st.State, LeaderId: st.LeaderID, LeaderAddress: st.LeaderAddress,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LastLogIndex: st.LastLogIndex, LeaderChanges: st.LeaderChanges,
	}
	health := s.cluster.Health()
	for _, p := range st.Peers {
		info := s.node.State().Node(p.ID)
		peer := &mxv1.Peer{Id: p.ID, Address: p.Address, Suffrage: p.Suffrage, GrpcAddress: info.GetGrpcAddress(), AgentAddress: info.GetAgentAddress()}
		if peer.AgentAddress == "" {
			peer.AgentAddress = peer.GrpcAddress
		}
		if h, ok := health[p.ID]; ok {
			peer.Healthy, peer.AppliedIndex = h.Healthy, h.AppliedIndex
			if !h.LastContact.IsZero() {
				peer.LastContact = timestamppb.New(h.LastContact)
			}
		} else if p.ID == st.NodeID {
			peer.Healthy, peer.AppliedIndex = true, st.AppliedIndex
		}
		resp.Peers = append(resp.Peers, peer)
	}
	return resp, nil
}

// JoinCluster makes this node join the cluster of the node at req.address.
func (s *Service) JoinCluster(ctx context.Context, req *mxv1.JoinClusterRequest) (*mxv1.JoinClusterResponse, error) {
	if req.GetAddress() == "" || len(req.GetAddress()) > 255 {
		return nil, status.Error(codes.InvalidArgument, "address: a host:port of a cluster member is required")
	}
	if err := s.cluster.JoinVia(ctx, req.GetAddress()); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	id, _ := s.cluster.LeaderGRPC()
	return &mxv1.JoinClusterResponse{LeaderId: id}, nil
}

// RemovePeer removes a server (on the leader).
func (s *Service) RemovePeer(ctx context.Context, req *mxv1.RemovePeerRequest) (*mxv1.RemovePeerResponse, error) {
	if req.GetNodeId() == "" || len(req.GetNodeId()) > 128 {
		return nil, status.Error(codes.InvalidArgument, "node_id is required")
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.RemovePeer(fw.ctx, req)
	}
	if err := s.node.RemovePeer(ctx, req.GetNodeId()); err != nil {
		return nil, mapErr(err)
	}
	return &mxv1.RemovePeerResponse{}, nil
}

// TransferLeadership hands leadership over (on the leader).
func (s *Service) TransferLeadership(ctx context.Context, req *mxv1.TransferLeadershipRequest) (*mxv1.TransferLeadershipResponse, error) {
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.TransferLeadership(fw.ctx, req)
	}
	if err := s.node.TransferLeadership(ctx, req.GetNodeId()); err != nil {
		return nil, mapErr(err)
	}
	id, _ := s.cluster.LeaderGRPC()
	return &mxv1.TransferLeadershipResponse{NewLeaderId: id}, nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotLeader), errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, store.ErrNotPeer):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrNoTransferTarget):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, err.Error())
	}
}
