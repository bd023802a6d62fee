package ingest

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Enrollment signs agents' certificates.
type Enrollment struct {
	CA *pki.CA
	// TTL of issued certificates.
	TTL time.Duration
	// Leader returns an AgentService client on the leader when this node
	// does not lead (enrollment consumes a token: a raft write).
	Leader func() (mxv1.AgentServiceClient, error)
}

// Enroll exchanges a join token and a CSR for a client certificate.
func (s *Server) Enroll(ctx context.Context, req *mxv1.EnrollRequest) (*mxv1.EnrollResponse, error) {
	e := s.enroll
	if e == nil || e.CA == nil {
		return nil, status.Error(codes.FailedPrecondition, "enrollment is not configured on this controller (no agent CA)")
	}
	if !pki.ValidID(req.GetAgentId()) {
		return nil, status.Error(codes.InvalidArgument, "agent_id: 1-128 characters of A-Z a-z 0-9 . _ -")
	}
	id, hash, err := auth.ParseSecret(req.GetToken())
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "join token is malformed")
	}
	if !s.node.IsLeader() {
		if e.Leader == nil {
			return nil, status.Error(codes.Unavailable, "not the leader")
		}
		cl, err := e.Leader()
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return cl.Enroll(ctx, req)
	}
	res, err := s.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_ConsumeJoinToken{ConsumeJoinToken: &mxv1.ConsumeJoinToken{Id: id, SecretHash: hash, AgentId: req.GetAgentId()}}})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	cr, _ := res.(store.ConsumeResult)
	if cr.Err != nil {
		code := codes.PermissionDenied
		if errors.Is(cr.Err, store.ErrTokenUnknown) {
			code = codes.Unauthenticated
		}
		return nil, status.Errorf(code, "join token refused: %v", cr.Err)
	}
	chain, err := e.CA.Sign(req.GetCsrDer(), pki.Identity{AgentID: req.GetAgentId(), Site: cr.Site}, e.TTL, time.Now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.log.Info("agent enrolled", "agent", req.GetAgentId(), "site", cr.Site, "token", id)
	return &mxv1.EnrollResponse{CertificateChainDer: chain, AgentId: req.GetAgentId(), Site: cr.Site, NotAfter: notAfter(chain)}, nil
}

// Renew issues a fresh certificate for the caller's identity.
func (s *Server) Renew(ctx context.Context, req *mxv1.RenewRequest) (*mxv1.RenewResponse, error) {
	e := s.enroll
	if e == nil || e.CA == nil {
		return nil, status.Error(codes.FailedPrecondition, "renewal is not configured on this controller (no agent CA)")
	}
	id, ok := auth.AgentIdentity(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "renewal needs the agent's current certificate")
	}
	chain, err := e.CA.Sign(req.GetCsrDer(), pki.Identity{AgentID: id.AgentID, Site: id.Site}, e.TTL, time.Now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &mxv1.RenewResponse{CertificateChainDer: chain, NotAfter: notAfter(chain)}, nil
}

func notAfter(chain [][]byte) *timestamppb.Timestamp {
	c, err := parseCert(chain[0])
	if err != nil {
		return nil
	}
	return timestamppb.New(c.NotAfter)
}
