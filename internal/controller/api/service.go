package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Node is the part of the raft node the API reads.
type Node interface {
	State() *store.State
	Status() (store.Status, error)
}

// Service implements mxprobe.v1.ControllerService.
type Service struct {
	mxv1.UnimplementedControllerServiceServer
	node Node
}

// NewService returns the ControllerService implementation.
func NewService(node Node) *Service { return &Service{node: node} }

// ListAgents lists agents, optionally of one site.
func (s *Service) ListAgents(_ context.Context, req *mxv1.ListAgentsRequest) (*mxv1.ListAgentsResponse, error) {
	if len(req.GetSite()) > 128 {
		return nil, status.Error(codes.InvalidArgument, "site: longer than 128 characters")
	}
	return &mxv1.ListAgentsResponse{Agents: s.node.State().Agents(req.GetSite())}, nil
}

// ListFindings lists the latest findings, filtered.
func (s *Service) ListFindings(_ context.Context, req *mxv1.ListFindingsRequest) (*mxv1.ListFindingsResponse, error) {
	for name, v := range map[string]string{"site": req.GetSite(), "agent_id": req.GetAgentId(), "code": req.GetCode()} {
		if len(v) > 128 {
			return nil, status.Errorf(codes.InvalidArgument, "%s: longer than 128 characters", name)
		}
	}
	if _, ok := mxv1.Severity_name[int32(req.GetMinSeverity())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "min_severity: unknown value %d", req.GetMinSeverity())
	}
	return &mxv1.ListFindingsResponse{Findings: s.node.State().Findings(store.FindingFilter{
		Site: req.GetSite(), AgentID: req.GetAgentId(), Code: req.GetCode(), MinSeverity: req.GetMinSeverity(),
	})}, nil
}

// GetClusterStatus reports this node's raft view.
func (s *Service) GetClusterStatus(context.Context, *mxv1.GetClusterStatusRequest) (*mxv1.GetClusterStatusResponse, error) {
	st, err := s.node.Status()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &mxv1.GetClusterStatusResponse{
		NodeId: st.NodeID, State: st.State, LeaderId: st.LeaderID, LeaderAddress: st.LeaderAddress,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
	}
	for _, p := range st.Peers {
		resp.Peers = append(resp.Peers, &mxv1.Peer{Id: p.ID, Address: p.Address, Suffrage: p.Suffrage})
	}
	return resp, nil
}
