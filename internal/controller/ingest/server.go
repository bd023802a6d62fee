package ingest

import (
	"context"
	"errors"
	"io"
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

// Connect handles one agent stream: a Session driven by the stream's
// messages. Batches are pipelined: the handler reads and submits up to
// MaxInFlight of them while earlier ones commit, and an acker sends their
// acks in order (pipeline).
func (s *Server) Connect(stream mxv1.AgentService_ConnectServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	sess := s.NewSession(ctx)
	pipe := newPipeline(stream.Send, s.pipelineFailure)
	// The acker may still be sending: it stops on cancel, and the handler
	// returns (ending the stream) only once it has.
	defer pipe.wait()
	defer cancel()
	defer sess.Close()
	for {
		// rawRequest keeps the batch's bytes when the server runs with
		// ServerCodec (the node does), so they go to raft as they came.
		req := &rawRequest{}
		if err := stream.RecvMsg(req); err != nil {
			if errors.Is(err, io.EOF) && sess.entry != nil {
				// The agent sent all it had: answer what is in flight.
				pipe.wait()
				return streamEnd(pipe.err())
			}
			if perr := pipe.err(); perr != nil {
				return streamEnd(perr)
			}
			return err
		}
		if perr := pipe.err(); perr != nil {
			return streamEnd(perr)
		}
		if sess.entry == nil {
			resp, done, err := sess.hello(ctx, req.GetHello())
			if err != nil {
				return err
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			if done {
				return nil
			}
			continue
		}
		if err := sess.submit(ctx, pipe, req.GetBatch(), req.batch); err != nil {
			return streamEnd(err)
		}
	}
}

// errStreamDone ends a stream without an error: the agent was told
// NotLeader.
var errStreamDone = errors.New("ingest: stream done")

func streamEnd(err error) error {
	if errors.Is(err, errStreamDone) {
		return nil
	}
	return err
}

// pipelineFailure is what a stream whose batch failed to commit answers:
// NotLeader (the leader this node knows, none when it is that leader but
// cannot commit) and the status the stream ends with.
func (s *Server) pipelineFailure(err error) (*mxv1.ConnectResponse, error) {
	resp, _, serr := s.applyError(err)
	if resp == nil {
		s.log.Warn("agent batch not committed; the agent is sent elsewhere and resends it", "err", err)
		resp = s.notLeader()
	}
	return resp, serr
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

func (ss *Session) hello(ctx context.Context, hello *mxv1.Hello) (*mxv1.ConnectResponse, bool, error) {
	s := ss.s
	if err := validateHello(hello); err != nil {
		return nil, false, status.Error(codes.InvalidArgument, err.Error())
	}
	entry := &streamEntry{agentID: hello.GetAgentId()}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		entry.remote = p.Addr.String()
	}
	if id, ok := auth.AgentIdentity(ctx); ok {
		if err := bindIdentity(hello, id); err != nil {
			s.identityRefused(refusedHelloAgent, hello, id.Site, entry.remote)
			return nil, false, status.Error(codes.PermissionDenied, err.Error())
		}
		entry.issuedAt = id.IssuedAt
	}
	if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
		return nil, false, status.Errorf(codes.PermissionDenied, "agent %s is revoked, or this certificate was superseded by a newer enrollment", entry.agentID)
	}
	// A Hello never moves an agent to another site: only its enrollment
	// decides (the FSM keeps the registered site either way).
	if site, known := s.node.State().EnrolledSite(hello.GetAgentId()); known && site != hello.GetSite() {
		s.identityRefused(refusedHelloSite, hello, site, entry.remote)
		return nil, false, status.Errorf(codes.PermissionDenied, "agent %s is registered in another site than %q; only a re-enrollment token moves an agent between sites", hello.GetAgentId(), hello.GetSite())
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

// submit checks one batch and hands it to the committer; pipe acks it
// once committed. Errors are gRPC statuses and end the stream.
func (ss *Session) submit(ctx context.Context, pipe *pipeline, b *mxv1.ResultBatch, raw []byte) error {
	s, entry := ss.s, ss.entry
	if b == nil {
		return status.Error(codes.InvalidArgument, "expected a ResultBatch after Hello")
	}
	if err := validateBatch(b); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if s.limit != nil {
		wait, ok := s.limit(entry.agentID)
		if !ok {
			return status.Error(codes.ResourceExhausted, "too many batches from this agent; slow down")
		}
		if wait > 0 {
			// Backpressure: the stream reads nothing while it waits.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return status.FromContextError(ctx.Err()).Err()
			case <-t.C:
			}
		}
	}
	if s.node.State().AgentRevoked(entry.agentID, entry.issuedAt) {
		return status.Errorf(codes.PermissionDenied, "agent %s is revoked", entry.agentID)
	}
	if !pipe.reserve(ctx) {
		if err := pipe.err(); err != nil {
			return err
		}
		return status.FromContextError(ctx.Err()).Err()
	}
	done, err := s.committer.Enqueue(ctx, &pipe.chain, entry.agentID, b, raw)
	if err != nil {
		pipe.release()
		_, _, serr := s.applyError(err)
		return serr
	}
	pipe.push(ctx, b.GetSeq(), done)
	return nil
}

// identityRefused logs and counts a Hello that disagrees with the agent's
// certificate or registered site.
func (s *Server) identityRefused(reason string, hello *mxv1.Hello, site, remote string) {
	s.metrics.identityRefused.WithLabelValues(reason).Inc()
	s.log.Warn("agent hello refused: identity mismatch", "reason", reason, "agent", hello.GetAgentId(), "hello_site", hello.GetSite(),
		"site", site, "hostname", hello.GetHostname(), "remote", remote)
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
