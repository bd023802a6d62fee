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
	limit     func(agentID string) (time.Duration, bool)
	active    active
}

// Options are the server's optional parts.
type Options struct {
	// Enrollment enables Enroll and Renew.
	Enrollment *Enrollment
	// Closer lets revocation cut live streams.
	Closer ConnCloser
	// ReserveBatch is the per-agent rate limit (nil: none): how long to
	// hold a batch, or false to refuse it.
	ReserveBatch func(agentID string) (time.Duration, bool)
}

// NewServer returns the AgentService implementation.
func NewServer(node Node, c *Committer, plan Plan, m *Metrics, log *slog.Logger, o Options) *Server {
	return &Server{node: node, committer: c, plan: plan, metrics: m, log: log, enroll: o.Enrollment, closer: o.Closer, limit: o.ReserveBatch}
}

// Connect handles one agent stream on grpc-go (the agent port's lean
// endpoint drives the same Session, see LeanMethods).
func (s *Server) Connect(stream mxv1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	sess := s.NewSession(ctx)
	defer sess.Close()
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		resp, done, err := sess.Handle(ctx, req)
		if err != nil {
			return err
		}
		if resp != nil {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// Session is one agent stream's protocol, independent of the transport:
// Hello first, then result batches, each answered once committed.
type Session struct {
	s       *Server
	entry   *streamEntry
	site    string
	started bool
}

// NewSession starts the protocol for a stream whose context carries the
// caller's identity and peer.
func (s *Server) NewSession(ctx context.Context) *Session { return &Session{s: s} }

// Handle processes one request: the response to send (nil for none), and
// whether the stream ends after it. Errors are gRPC statuses.
func (ss *Session) Handle(ctx context.Context, req *mxv1.ConnectRequest) (*mxv1.ConnectResponse, bool, error) {
	if ss.entry == nil {
		return ss.hello(ctx, req.GetHello())
	}
	return ss.batch(ctx, req.GetBatch())
}

func (ss *Session) hello(ctx context.Context, hello *mxv1.Hello) (*mxv1.ConnectResponse, bool, error) {
	s := ss.s
	if err := validateHello(hello); err != nil {
		return nil, false, status.Error(codes.InvalidArgument, err.Error())
	}
	entry := &streamEntry{agentID: hello.GetAgentId()}
	if id, ok := auth.AgentIdentity(ctx); ok {
		if err := bindIdentity(hello, id); err != nil {
			return nil, false, status.Error(codes.PermissionDenied, err.Error())
		}
		entry.issuedAt = id.IssuedAt
	}
	if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
		return nil, false, status.Errorf(codes.PermissionDenied, "agent %s is revoked", entry.agentID)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		entry.remote = p.Addr.String()
	}
	if !s.node.IsLeader() {
		return s.notLeader(), true, nil
	}
	if _, err := s.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: hello}}}); err != nil {
		return s.applyError(err)
	}
	// No per-stream logger (s.log.With): its copied attributes would live
	// as long as the stream, on every idle agent. Only what Close needs is
	// kept of the Hello.
	ss.entry, ss.site, ss.started = entry, hello.GetSite(), true
	s.metrics.streamsConnected.Inc()
	s.active.add(entry)
	s.log.Info("agent connected", "agent", hello.GetAgentId(), "site", hello.GetSite(), "hostname", hello.GetHostname(), "version", hello.GetVersion())

	last := s.node.State().Agent(hello.GetAgentId()).GetLastSeq()
	return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Welcome{Welcome: &mxv1.Welcome{
		ControllerId:     s.node.NodeID(),
		LastCommittedSeq: last,
		Plan: &mxv1.CheckPlan{
			Interval:     durationpb.New(s.plan.Interval),
			Jitter:       durationpb.New(s.plan.Jitter),
			ProbeTimeout: durationpb.New(s.plan.ProbeTimeout),
			ProbeTargets: s.plan.ProbeTargets,
		},
	}}}, false, nil
}

func (ss *Session) batch(ctx context.Context, b *mxv1.ResultBatch) (*mxv1.ConnectResponse, bool, error) {
	s, entry := ss.s, ss.entry
	if b == nil {
		return nil, false, status.Error(codes.InvalidArgument, "expected a ResultBatch after Hello")
	}
	if err := validateBatch(b); err != nil {
		return nil, false, status.Error(codes.InvalidArgument, err.Error())
	}
	if s.limit != nil {
		wait, ok := s.limit(entry.agentID)
		if !ok {
			return nil, false, status.Error(codes.ResourceExhausted, "too many batches from this agent; slow down")
		}
		if wait > 0 {
			// Backpressure: the stream reads nothing while it waits.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, false, status.FromContextError(ctx.Err()).Err()
			case <-t.C:
			}
		}
	}
	if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
		return nil, false, status.Errorf(codes.PermissionDenied, "agent %s is revoked", entry.agentID)
	}
	if err := s.committer.Submit(ctx, entry.agentID, b); err != nil {
		return s.applyError(err)
	}
	return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: b.GetSeq()}}}, false, nil
}

// Close ends the session (the stream is gone).
func (ss *Session) Close() {
	if !ss.started {
		return
	}
	ss.started = false
	ss.s.metrics.streamsConnected.Dec()
	ss.s.active.remove(ss.entry)
	ss.s.log.Info("agent disconnected", "agent", ss.entry.agentID, "site", ss.site)
}

func (s *Server) notLeader() *mxv1.ConnectResponse {
	id, addr := s.node.LeaderAgentAddress()
	return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_NotLeader{NotLeader: &mxv1.NotLeader{LeaderId: id, LeaderAddress: addr}}}
}

// applyError turns a failed commit into NotLeader (leadership moved, the
// stream ends) or an error status.
func (s *Server) applyError(err error) (*mxv1.ConnectResponse, bool, error) {
	if errors.Is(err, store.ErrNotLeader) {
		return s.notLeader(), true, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false, status.FromContextError(err).Err()
	}
	return nil, false, status.Errorf(codes.Unavailable, "commit failed: %v", err)
}
