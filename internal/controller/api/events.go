package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Incident change feed. Events are derived by the FSM from
// committed incident changes (store/events_state.go), so every node serves
// the same events under the same cursors; ListEvents is linearizable like
// the other reads, GetEventStream streams this node's applied state.

const (
	defaultEventPage = 100
	maxEventPage     = 1000
	// streamBatch bounds the events in one stream message.
	streamBatch = 100
)

// Error reasons (google.rpc.ErrorInfo, domain mxprobe.io) the REST layer
// maps to HTTP statuses the gRPC code cannot express.
const (
	errorDomain           = "mxprobe.io"
	ReasonCursorCompacted = "CURSOR_COMPACTED" // 410 Gone
	ReasonEtagMismatch    = "ETAG_MISMATCH"    // 412 Precondition Failed
)

func compactedErr(after, compacted uint64) error {
	st := status.Newf(codes.OutOfRange, "cursor %d is compacted away (events at or below %d are gone): list incidents again and resume from the newest cursor", after, compacted)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonCursorCompacted, Domain: errorDomain}); err == nil {
		st = d
	}
	return st.Err()
}

// ListEvents returns incident change events after a cursor.
func (s *Service) ListEvents(ctx context.Context, req *mxv1.ListEventsRequest) (*mxv1.ListEventsResponse, error) {
	size, err := pageSize(req.GetPageSize(), defaultEventPage, maxEventPage)
	if err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListEvents(fw.ctx, req)
	}
	evs, compacted, _, err := s.node.State().Events(req.GetAfter(), size)
	if errors.Is(err, store.ErrCursorCompacted) {
		return nil, compactedErr(req.GetAfter(), compacted)
	}
	next := req.GetAfter()
	if n := len(evs); n > 0 {
		next = evs[n-1].GetCursor()
	}
	return &mxv1.ListEventsResponse{Events: s.visibleEvents(ctx, evs), NextCursor: next, CompactedThrough: compacted}, nil
}

// visibleEvents keeps the events of incidents the caller may see (as the
// incident is now: an event of an incident gone or spanning sites is left
// out for a site-scoped token). Cursors still advance past the others.
func (s *Service) visibleEvents(ctx context.Context, evs []*mxv1.IncidentEvent) []*mxv1.IncidentEvent {
	if auth.SiteScope(ctx) == "" {
		return evs
	}
	out := make([]*mxv1.IncidentEvent, 0, len(evs))
	for _, ev := range evs {
		if incidentVisible(ctx, s.node.State().Incident(ev.GetIncidentId())) {
			out = append(out, ev)
		}
	}
	return out
}

// GetEventStream streams events after a cursor from this node's applied
// state: a first empty message once the cursor is accepted, then events as
// they are applied, until the client goes away.
func (s *Service) GetEventStream(req *mxv1.GetEventStreamRequest, stream mxv1.ControllerService_GetEventStreamServer) error {
	ctx := stream.Context()
	st := s.node.State()
	after := req.GetAfter()
	if _, compacted, _, err := st.Events(after, 1); errors.Is(err, store.ErrCursorCompacted) {
		return compactedErr(after, compacted)
	}
	if err := stream.Send(&mxv1.GetEventStreamResponse{}); err != nil {
		return err
	}
	for {
		changed := st.EventsChanged()
		evs, compacted, _, err := st.Events(after, streamBatch)
		if errors.Is(err, store.ErrCursorCompacted) {
			// The client fell behind by more than the feed keeps.
			return compactedErr(after, compacted)
		}
		if len(evs) > 0 {
			if vis := s.visibleEvents(ctx, evs); len(vis) > 0 {
				if err := stream.Send(&mxv1.GetEventStreamResponse{Events: vis}); err != nil {
					return err
				}
			}
			after = evs[len(evs)-1].GetCursor()
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		case <-time.After(time.Minute):
			// Re-check periodically (a restored state resets the feed).
		}
	}
}
