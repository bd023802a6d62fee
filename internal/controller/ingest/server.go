package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Node is what the server needs to know about the raft node it runs on.
type Node interface {
	Applier
	NodeID() string
	IsLeader() bool
	// LeaderAgentAddress is the gRPC address agents should use for the leader ("" if unknown).
	LeaderAgentAddress() (id, addr string)
	State() *store.State
}

// Plan is the check plan handed to agents in Welcome.
type Plan struct {
	Interval, Jitter, ProbeTimeout time.Duration
	ProbeTargets                   []string
}

// Server implements mxprobe.v1.AgentService.
type Server struct {
	mxv1.UnimplementedAgentServiceServer
	node      Node
	committer *Committer
	plan      Plan
	metrics   *Metrics
	log       *slog.Logger
	enroll    *Enrollment
	closer    ConnCloser
	limit     func(agentID string) bool
	active    active
}

// Options are the server's optional parts.
type Options struct {
	// Enrollment enables Enroll and Renew.
	Enrollment *Enrollment
	// Closer lets revocation cut live streams.
	Closer ConnCloser
	// AllowBatch is the per-agent rate limit (nil: none).
	AllowBatch func(agentID string) bool
}

// NewServer returns the AgentService implementation.
func NewServer(node Node, c *Committer, plan Plan, m *Metrics, log *slog.Logger, o Options) *Server {
	return &Server{node: node, committer: c, plan: plan, metrics: m, log: log, enroll: o.Enrollment, closer: o.Closer, limit: o.AllowBatch}
}

// Connect handles one agent stream.
func (s *Server) Connect(stream mxv1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if err := validateHello(hello); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	entry := &streamEntry{agentID: hello.GetAgentId()}
	if id, ok := auth.AgentIdentity(ctx); ok {
		if err := bindIdentity(hello, id); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		entry.issuedAt = id.IssuedAt
	}
	if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
		return status.Errorf(codes.PermissionDenied, "agent %s is revoked", entry.agentID)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		entry.remote = p.Addr.String()
	}
	if !s.node.IsLeader() {
		id, addr := s.node.LeaderAgentAddress()
		return stream.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{LeaderId: id, LeaderAddress: addr}}})
	}
	if _, err := s.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: hello}}}); err != nil {
		return s.applyError(stream, err)
	}
	// No per-stream logger (s.log.With): its copied attributes would live
	// as long as the stream, on every idle agent.
	s.metrics.streamsConnected.Inc()
	defer s.metrics.streamsConnected.Dec()
	s.active.add(entry)
	defer s.active.remove(entry)
	s.log.Info("agent connected", "agent", hello.GetAgentId(), "site", hello.GetSite(), "hostname", hello.GetHostname(), "version", hello.GetVersion())
	defer s.log.Info("agent disconnected", "agent", hello.GetAgentId(), "site", hello.GetSite())

	last := s.node.State().Agent(hello.GetAgentId()).GetLastSeq()
	if err := stream.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Welcome{Welcome: &mxv1.Welcome{
		ControllerId:     s.node.NodeID(),
		LastCommittedSeq: last,
		Plan: &mxv1.CheckPlan{
			Interval:     durationpb.New(s.plan.Interval),
			Jitter:       durationpb.New(s.plan.Jitter),
			ProbeTimeout: durationpb.New(s.plan.ProbeTimeout),
			ProbeTargets: s.plan.ProbeTargets,
		},
	}}}); err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		b := msg.GetBatch()
		if b == nil {
			return status.Error(codes.InvalidArgument, "expected a ResultBatch after Hello")
		}
		if err := validateBatch(b); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if s.limit != nil && !s.limit(entry.agentID) {
			return status.Error(codes.ResourceExhausted, "too many batches from this agent; slow down")
		}
		if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
			return status.Errorf(codes.PermissionDenied, "agent %s is revoked", entry.agentID)
		}
		if err := s.committer.Submit(ctx, hello.GetAgentId(), b); err != nil {
			return s.applyError(stream, err)
		}
		if err := stream.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: b.GetSeq()}}}); err != nil {
			return err
		}
	}
}

// applyError turns a failed commit into NotLeader (leadership moved) or an error status.
func (s *Server) applyError(stream mxv1.AgentService_ConnectServer, err error) error {
	if errors.Is(err, store.ErrNotLeader) {
		id, addr := s.node.LeaderAgentAddress()
		return stream.Send(&mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{LeaderId: id, LeaderAddress: addr}}})
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "commit failed: %v", err)
}
