package api

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Incident API. Reads are linearizable like the other lists
// (readable: forward to the leader, or a ReadIndex barrier on it); writes
// go through raft on the leader.

const (
	defaultIncidentPage = 100
	maxIncidentPage     = 1000
	maxCommentLen       = 2000
	maxActorLen         = 128
)

// incidentWriter is what the store offers for human actions.
type incidentWriter interface {
	ApplyIncidentAction(ctx context.Context, a *mxv1.IncidentAction) (inc *mxv1.Incident, replayed bool, err error)
}

// ListIncidents lists incidents matching the filter, a page at a time.
func (s *Service) ListIncidents(ctx context.Context, req *mxv1.ListIncidentsRequest) (*mxv1.ListIncidentsResponse, error) {
	f, err := incident.ParseFilter(req.GetFilter())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "filter: %v", err)
	}
	size, err := pageSize(req.GetPageSize(), defaultIncidentPage, maxIncidentPage)
	if err != nil {
		return nil, err
	}
	if _, _, err := decodeIncidentToken(req.GetPageToken()); err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListIncidents(fw.ctx, req)
	}
	page, next, err := incidentPage(visibleIncidents(ctx, s.node.State().Incidents(f)), req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	resp := &mxv1.ListIncidentsResponse{Incidents: make([]*mxv1.Incident, 0, len(page)), NextPageToken: next}
	for _, inc := range page {
		if req.GetBrief() {
			inc = incident.Brief(inc)
		}
		resp.Incidents = append(resp.Incidents, inc)
	}
	return resp, nil
}

// GetIncident returns one incident by id or fingerprint.
func (s *Service) GetIncident(ctx context.Context, req *mxv1.GetIncidentRequest) (*mxv1.GetIncidentResponse, error) {
	if err := validIncidentID(req.GetId()); err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.GetIncident(fw.ctx, req)
	}
	inc := s.node.State().Incident(req.GetId())
	if inc == nil || !incidentVisible(ctx, inc) {
		return nil, errIncidentHidden(req.GetId())
	}
	return &mxv1.GetIncidentResponse{Incident: inc}, nil
}

// AcknowledgeIncident records that a human took the incident.
func (s *Service) AcknowledgeIncident(ctx context.Context, req *mxv1.AcknowledgeIncidentRequest) (*mxv1.AcknowledgeIncidentResponse, error) {
	keyless := withoutKey(req, func(r *mxv1.AcknowledgeIncidentRequest) { r.IdempotencyKey = "" })
	inc, err := s.humanAction(ctx, mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, "acknowledge", req, keyless,
		func(ctx context.Context, cl mxv1.ControllerServiceClient, o ...grpc.CallOption) (*mxv1.Incident, error) {
			r, err := cl.AcknowledgeIncident(ctx, req, o...)
			return r.GetIncident(), err
		})
	if err != nil {
		return nil, err
	}
	return &mxv1.AcknowledgeIncidentResponse{Incident: inc}, nil
}

// ResolveIncident records that a human resolved the incident.
func (s *Service) ResolveIncident(ctx context.Context, req *mxv1.ResolveIncidentRequest) (*mxv1.ResolveIncidentResponse, error) {
	keyless := withoutKey(req, func(r *mxv1.ResolveIncidentRequest) { r.IdempotencyKey = "" })
	inc, err := s.humanAction(ctx, mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE, "resolve", req, keyless,
		func(ctx context.Context, cl mxv1.ControllerServiceClient, o ...grpc.CallOption) (*mxv1.Incident, error) {
			r, err := cl.ResolveIncident(ctx, req, o...)
			return r.GetIncident(), err
		})
	if err != nil {
		return nil, err
	}
	return &mxv1.ResolveIncidentResponse{Incident: inc}, nil
}

// actionRequest is what acknowledge and resolve requests have in common.
type actionRequest interface {
	GetId() string
	GetActor() string
	GetComment() string
	GetExpectedSequence() uint64
	GetIdempotencyKey() string
}

// humanAction validates an acknowledge or resolve, forwards it to the
// leader (relaying its replayed header), or applies it here with its
// idempotency key (keyless: the request without the key, for the digest).
func (s *Service) humanAction(ctx context.Context, kind mxv1.IncidentActionKind, method string, req actionRequest, keyless proto.Message,
	forward func(context.Context, mxv1.ControllerServiceClient, ...grpc.CallOption) (*mxv1.Incident, error)) (*mxv1.Incident, error) {
	if err := validIncidentID(req.GetId()); err != nil {
		return nil, err
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		var hdr metadata.MD
		inc, err := forward(fw.ctx, fw.cl, grpc.Header(&hdr))
		relayReplayed(ctx, hdr)
		return inc, err
	}
	idem, err := idempotency(ctx, method, req.GetIdempotencyKey(), keyless)
	if err != nil {
		return nil, err
	}
	return s.incidentAction(ctx, req.GetId(), kind, req.GetActor(), req.GetComment(), req.GetExpectedSequence(), idem)
}

// incidentActor decides who performs a write: the single place to replace
// the caller-supplied actor with the authenticated API token's name.
// incidentActor decides who a timeline entry names: the API token's name
// (auth), with the caller-supplied actor recorded as on whose behalf when it
// differs (an ITSM integration acting for a person). Only in insecure mode,
// where nobody is authenticated, is the supplied actor taken as is.
func incidentActor(ctx context.Context, requested string) (string, error) {
	a := strings.TrimSpace(requested)
	if len(a) > maxActorLen || strings.ContainsAny(a, "\r\n") {
		return "", status.Errorf(codes.InvalidArgument, "actor: one line of at most %d characters", maxActorLen)
	}
	switch who := auth.Actor(ctx); who {
	case "insecure-mode", "anonymous":
		if a == "" {
			return "", status.Error(codes.InvalidArgument, "actor: who acknowledges or resolves is required")
		}
		return a, nil
	default:
		if a != "" && a != who {
			return who + " (for " + a + ")", nil
		}
		return who, nil
	}
}

func (s *Service) incidentAction(ctx context.Context, id string, kind mxv1.IncidentActionKind, actor, comment string, seq uint64, idem *mxv1.Idempotency) (*mxv1.Incident, error) {
	who, err := incidentActor(ctx, actor)
	if err != nil {
		return nil, err
	}
	if len(comment) > maxCommentLen {
		return nil, status.Errorf(codes.InvalidArgument, "comment: longer than %d characters", maxCommentLen)
	}
	w, ok := s.node.(incidentWriter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node cannot write incidents")
	}
	// Resolve a fingerprint to the incident's current id.
	if inc := s.node.State().Incident(id); inc != nil {
		if !incidentVisible(ctx, inc) {
			return nil, errIncidentHidden(id)
		}
		id = inc.GetId()
	}
	inc, replayed, err := w.ApplyIncidentAction(ctx, &mxv1.IncidentAction{IncidentId: id, Action: kind, Actor: who, Comment: comment, ExpectedSequence: seq, Idempotency: idem,
		SiteScope: auth.SiteScope(ctx)})
	if err != nil {
		return nil, incidentErr(err)
	}
	markReplayed(ctx, replayed)
	return inc, nil
}

func incidentErr(err error) error {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, incident.ErrInvalidTransition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, incident.ErrStaleSequence):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, incident.ErrInvalidAction):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, store.ErrNotLeader):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, store.ErrIdempotencyConflict):
		return idempotencyConflict()
	case errors.Is(err, store.ErrIdempotencyGone):
		return status.Error(codes.NotFound, err.Error())
	}
	return mapErr(err)
}

func validIncidentID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, " /\t\r\n") {
		return status.Error(codes.InvalidArgument, "id: an incident id or fingerprint is required")
	}
	return nil
}

// incidentRefsWriter is what the store offers for external references.
type incidentRefsWriter interface {
	UpdateIncidentRefs(ctx context.Context, u *mxv1.UpdateIncidentRefs) (inc *mxv1.Incident, replayed bool, err error)
}

// UpdateIncidentRefs attaches, changes or removes external references
// (ITSM ticket numbers) of an incident (PATCH /v1/incidents/{id}).
func (s *Service) UpdateIncidentRefs(ctx context.Context, req *mxv1.UpdateIncidentRefsRequest) (*mxv1.UpdateIncidentRefsResponse, error) {
	if err := validIncidentID(req.GetId()); err != nil {
		return nil, err
	}
	if err := incident.ValidRefs(req.GetExternalRefs()); err != nil {
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), incident.ErrInvalidAction.Error()+": "))
	}
	if len(req.GetComment()) > maxCommentLen {
		return nil, status.Errorf(codes.InvalidArgument, "comment: longer than %d characters", maxCommentLen)
	}
	who, err := incidentActor(ctx, req.GetActor())
	if err != nil {
		return nil, err
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		var hdr metadata.MD
		resp, err := fw.cl.UpdateIncidentRefs(fw.ctx, req, grpc.Header(&hdr))
		relayReplayed(ctx, hdr)
		return resp, err
	}
	idem, err := idempotency(ctx, "refs", req.GetIdempotencyKey(), withoutKey(req, func(r *mxv1.UpdateIncidentRefsRequest) { r.IdempotencyKey = "" }))
	if err != nil {
		return nil, err
	}
	w, ok := s.node.(incidentRefsWriter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node cannot write incidents")
	}
	id := req.GetId()
	if inc := s.node.State().Incident(id); inc != nil {
		if !incidentVisible(ctx, inc) {
			return nil, errIncidentHidden(id)
		}
		id = inc.GetId()
	}
	inc, replayed, err := w.UpdateIncidentRefs(ctx, &mxv1.UpdateIncidentRefs{IncidentId: id, ExternalRefs: req.GetExternalRefs(),
		Actor: who, Comment: req.GetComment(), ExpectedSequence: req.GetExpectedSequence(), Idempotency: idem, SiteScope: auth.SiteScope(ctx)})
	if err != nil {
		return nil, incidentErr(err)
	}
	markReplayed(ctx, replayed)
	return &mxv1.UpdateIncidentRefsResponse{Incident: inc}, nil
}
