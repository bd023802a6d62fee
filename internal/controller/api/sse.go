package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Server-Sent Events at GET /v1/events:stream: the change feed
// pushed as it is applied on this node. Each event's id is its cursor, so a
// client resumes with Last-Event-ID (or ?after=); a cursor compacted away
// answers 410 Gone. Comments (": heartbeat") keep proxies from timing the
// connection out. The stream is the gRPC GetEventStream of this node's own
// server, called with the request's Authorization, so the gRPC interceptors
// authenticate it (read scope) exactly like the rest of the API.

const (
	defaultSSEHeartbeat = 15 * time.Second
	// defaultMaxSSE bounds concurrent streams per node; each holds one gRPC
	// stream on the node's own connection (64 concurrent streams at most).
	defaultMaxSSE = 32
)

type sseHandler struct {
	// base ends when the node shuts down: open streams end with it, so they
	// never hold up the HTTP and gRPC servers' graceful stop.
	base      context.Context
	conn      *grpc.ClientConn
	heartbeat time.Duration
	slots     chan struct{}
}

func newSSEHandler(base context.Context, conn *grpc.ClientConn, heartbeat time.Duration, max int) *sseHandler {
	if heartbeat <= 0 {
		heartbeat = defaultSSEHeartbeat
	}
	if max <= 0 {
		max = defaultMaxSSE
	}
	return &sseHandler{base: base, conn: conn, heartbeat: heartbeat, slots: make(chan struct{}, max)}
}

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, err := streamCursor(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, status.Error(codes.Internal, "streaming unsupported"))
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		writeError(w, r, status.Error(codes.Unavailable, "too many event streams on this node; retry later or use GET /v1/events"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.base, cancel)()
	if a := r.Header.Get("Authorization"); a != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	stream, err := mxv1.NewControllerServiceClient(h.conn).GetEventStream(ctx, &mxv1.GetEventStreamRequest{After: after})
	if err == nil {
		_, err = stream.Recv() // the cursor is accepted (or not)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, ": mxprobe events after %d\n\n", after)
	flusher.Flush()

	msgs := make(chan *mxv1.GetEventStreamResponse)
	errc := make(chan error, 1)
	recvDone := make(chan struct{})
	// The reader stops before the handler returns: cancel ends its Recv.
	defer func() { cancel(); <-recvDone }()
	go func() {
		defer close(recvDone)
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	marshal := protojson.MarshalOptions{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case m := <-msgs:
			for _, ev := range m.GetEvents() {
				b, _ := marshal.Marshal(ev)
				if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.GetCursor(), ev.GetType(), b); err != nil {
					return
				}
			}
			flusher.Flush()
		case err := <-errc:
			st := status.Convert(err)
			if st.Code() != codes.Canceled {
				b, _ := protojson.Marshal(st.Proto())
				_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
				flusher.Flush()
			}
			return
		}
	}
}

// streamCursor is where a stream resumes: Last-Event-ID (a reconnecting
// EventSource) before ?after=, as the decimal id of an event; none is 0
// (from the oldest retained event).
func streamCursor(lastEventID, after string) (uint64, error) {
	cursor := lastEventID
	if cursor == "" {
		cursor = after
	}
	cursor = strings.TrimSpace(cursor)
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, "after / Last-Event-ID: a cursor (the id of an event) is required")
	}
	return n, nil
}
