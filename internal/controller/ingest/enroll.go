package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/identity"
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
	if !identity.ValidID(req.GetAgentId()) {
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
		return nil, s.enrollRefused(ctx, req, id, cr)
	}
	// The certificate must not predate the enrollment (older ones are
	// superseded), even if this clock is behind the one that proposed it.
	signAt := time.Now()
	if signAt.Before(cr.EnrolledAt) {
		signAt = cr.EnrolledAt
	}
	chain, err := e.CA.Sign(req.GetCsrDer(), identity.Identity{AgentID: req.GetAgentId(), Site: cr.Site}, e.TTL, signAt)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.log.Info("agent enrolled", "agent", req.GetAgentId(), "site", cr.Site, "token", id)
	return &mxv1.EnrollResponse{CertificateChainDer: chain, AgentId: req.GetAgentId(), Site: cr.Site, NotAfter: notAfter(chain)}, nil
}

// enrollRefused logs and counts a refused enrollment and returns its status.
// Attempts on an identity that is not the token's to give are logged as a
// warning with who tried (token id, remote address: never the secret) and
// counted; the caller is not told the existing agent's site.
func (s *Server) enrollRefused(ctx context.Context, req *mxv1.EnrollRequest, tokenID string, cr store.ConsumeResult) error {
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	reason, msg := "", ""
	switch {
	case errors.Is(cr.Err, store.ErrAgentExists):
		reason = refusedEnrollExists
		msg = fmt.Sprintf("agent id %s is already enrolled: a join token cannot enroll it again; an admin can create a re-enrollment token for it (controller tokens create NAME --kind reenroll --agent-id %s) or revoke it first (controller agent revoke %s)", req.GetAgentId(), req.GetAgentId(), req.GetAgentId())
	case errors.Is(cr.Err, store.ErrAgentOtherSite):
		reason = refusedEnrollOtherSite
		msg = fmt.Sprintf("agent id %s belongs to another site: only a re-enrollment token moves an agent between sites (controller tokens create NAME --kind reenroll --agent-id %s --site SITE)", req.GetAgentId(), req.GetAgentId())
	case errors.Is(cr.Err, store.ErrAgentOutOfScope):
		reason = refusedEnrollOutOfScope
		msg = fmt.Sprintf("agent id %s is outside what this token may enroll (its agent id prefix, or the one agent of a re-enrollment token)", req.GetAgentId())
	default:
		code := codes.PermissionDenied
		if errors.Is(cr.Err, store.ErrTokenUnknown) {
			code = codes.Unauthenticated
		}
		s.log.Info("enrollment refused", "agent", req.GetAgentId(), "token", tokenID, "remote", remote, "err", cr.Err)
		return status.Errorf(code, "join token refused: %v", cr.Err)
	}
	s.metrics.identityRefused.WithLabelValues(reason).Inc()
	s.log.Warn("enrollment refused: agent identity not the token's to give", "reason", reason, "agent", req.GetAgentId(),
		"token", tokenID, "token_site", cr.Site, "enrolled_site", cr.ExistingSite, "hostname", req.GetHostname(), "remote", remote)
	return status.Error(codes.PermissionDenied, msg)
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
	chain, err := e.CA.Sign(req.GetCsrDer(), identity.Identity{AgentID: id.AgentID, Site: id.Site}, e.TTL, time.Now())
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
