package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// What an agent and an ITSM client do around one incident: an agent
// reports a batch of its own results (Report), the client reads the
// incident (Incident) and holds the change feed open (Events, the
// Server-Sent Events form of GET /v1/events), all over the cluster's real
// API, HTTPS with the token on a secure cluster.

// ErrNoIncident: the API answered 404 for the incident.
var ErrNoIncident = errors.New("bench: no such incident")

// Report sends one batch of results from agent i of the fleet (its next
// sequence, encoded as any agent encodes it) and waits for its ack. The
// agent must not be streaming in Throughput or Latency at the same time.
func (f *Fleet) Report(ctx context.Context, i int, results []*mxv1.CheckResult) error {
	s := f.sims[i]
	s.seq++
	s.sent.Store(s.seq)
	req := &mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: s.seq, SentAt: timestamppb.Now(), Results: results}}}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("bench: %s: send: %w", s.id, err)
	}
	type answer struct {
		m   *mxv1.ConnectResponse
		err error
	}
	got := make(chan answer, 1)
	go func() { m, err := s.stream.Recv(); got <- answer{m, err} }()
	var a answer
	select {
	case a = <-got:
	case <-ctx.Done():
		// The stream is unusable now (its Recv still waits): cut it.
		f.cancel()
		<-got
		return ctx.Err()
	}
	switch {
	case a.err != nil:
		return fmt.Errorf("bench: %s: batch %d: %w", s.id, s.seq, a.err)
	case a.m.GetNotLeader() != nil:
		return fmt.Errorf("%w: %s answered NotLeader naming %q", ErrNotLeader, s.id, a.m.GetNotLeader().GetLeaderAddress())
	case a.m.GetAck().GetSeq() != s.seq:
		return fmt.Errorf("bench: %s: answer %v, want the ack of %d", s.id, a.m, s.seq)
	}
	return nil
}

// Host is the host name agent i announced in its Hello.
func (f *Fleet) Host(i int) string { return hostOf(f.sims[i].id) }

func hostOf(id string) string { return id + ".bench.test" }

// Incident reads GET /v1/incidents/{id} (id or fingerprint) on node i.
func (c *Cluster) Incident(ctx context.Context, i int, id string) (*mxv1.Incident, error) {
	resp, err := c.getCtx(ctx, c.http, i, "/v1/incidents/"+id)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, ErrNoIncident
	default:
		return nil, fmt.Errorf("bench: GET /v1/incidents/%s: %s: %s", id, resp.Status, b)
	}
	var out mxv1.GetIncidentResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("bench: GET /v1/incidents/%s: %w", id, err)
	}
	return out.GetIncident(), nil
}

// Event is one incident change read from the feed, with when it arrived.
type Event struct {
	Event   *mxv1.IncidentEvent
	Arrived time.Time
}

// EventStream is a held GET /v1/events:stream.
type EventStream struct {
	// C delivers the events in feed order; it is closed when the stream
	// ends (Err then says why).
	C      <-chan Event
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Events opens GET /v1/events:stream?after=after on node i, as an ITSM
// client holding the feed does, and reads it until Close.
func (c *Cluster) Events(ctx context.Context, i int, after uint64) (*EventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	// A held stream has no overall deadline; the client's other settings
	// (TLS, trust) stay.
	cl := *c.http
	cl.Timeout = 0
	resp, err := c.getCtx(ctx, &cl, i, fmt.Sprintf("/v1/events:stream?after=%d", after))
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("bench: GET /v1/events:stream: %s: %s", resp.Status, b)
	}
	ch := make(chan Event, 1024)
	es := &EventStream{C: ch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(es.done)
		defer close(ch)
		defer resp.Body.Close()
		es.err = readSSE(ctx, resp.Body, ch)
	}()
	return es, nil
}

// Close ends the stream and waits for its reader.
func (es *EventStream) Close() error {
	es.cancel()
	<-es.done
	if errors.Is(es.err, context.Canceled) {
		return nil
	}
	return es.err
}

// Err is why the stream ended (after C is closed).
func (es *EventStream) Err() error {
	<-es.done
	return es.err
}

// readSSE parses the event stream (id / event / data lines, a blank line
// ending each event, comments ignored) into ch.
func readSSE(ctx context.Context, r io.Reader, ch chan<- Event) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var kind, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data == "" {
				continue
			}
			if kind == "error" {
				return fmt.Errorf("bench: event stream: %s", data)
			}
			ev := &mxv1.IncidentEvent{}
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(data), ev); err != nil {
				return fmt.Errorf("bench: event %q: %w", data, err)
			}
			select {
			case ch <- Event{Event: ev, Arrived: time.Now()}:
			case <-ctx.Done():
				return ctx.Err()
			}
			kind, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("bench: event stream: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("bench: event stream ended")
}
