package cluster

import (
	"context"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Service implements mxprobe.v1.ClusterService (node to node).
type Service struct {
	mxv1.UnimplementedClusterServiceServer
	c *Cluster
}

// NewService returns the node-to-node service.
func NewService(c *Cluster) *Service { return &Service{c: c} }

// Info describes this node.
func (s *Service) Info(context.Context, *mxv1.InfoRequest) (*mxv1.InfoResponse, error) {
	has, err := s.c.store.HasState()
	if err != nil {
		return nil, toStatus(err)
	}
	st, _ := s.c.store.Status()
	lid, laddr := s.c.LeaderGRPC()
	return &mxv1.InfoResponse{
		Node: s.c.cfg.Self, HasState: has, LeaderId: lid, LeaderGrpcAddress: laddr,
		Term: st.Term, AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex,
		BootstrapExpect: int32(s.c.cfg.BootstrapExpect),
	}, nil
}

// Join adds the caller as a voter (forwarded to the leader by followers).
func (s *Service) Join(ctx context.Context, req *mxv1.JoinRequest) (*mxv1.JoinResponse, error) {
	leader, err := s.c.join(ctx, req.GetNode())
	if err != nil {
		return nil, err
	}
	return &mxv1.JoinResponse{LeaderId: leader}, nil
}
