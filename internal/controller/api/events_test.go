package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

func listEvents(t *testing.T, tw *twin, after uint64) []apitest.Event {
	t.Helper()
	a := tw.do(t, "GET", fmt.Sprintf("/v1/events?after=%d", after), nil, "")
	var r struct {
		Events []apitest.Event `json:"events"`
	}
	if a.code != 200 || json.Unmarshal([]byte(a.body), &r) != nil {
		t.Fatalf("events: %d %s", a.code, a.body)
	}
	return r.Events
}

// openSSE opens GET /v1/events:stream with the given headers and returns
// its events as they arrive (the stream ends with the test).
func openSSE(t *testing.T, tw *twin, header map[string]string) <-chan apitest.SSE {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", tw.base+"/v1/events:stream", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("SSE: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return apitest.ReadSSE(resp.Body)
}

// The change feed through REST: events in order with rising cursors,
// resumed after a cursor; SSE resumed with Last-Event-ID sends the missed
// event, then the next one as it is applied, on a follower as well.
func TestRESTEventsAndSSEResume(t *testing.T) {
	l := newTwin(t, twinConfig{})
	f := l.follower(t, false)
	inc := l.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	url := "/v1/incidents/" + inc.GetId()
	if a := l.do(t, "POST", url+":acknowledge", nil, `{"actor":"alice"}`); a.code != 200 {
		t.Fatalf("ack: %d %s", a.code, a.body)
	}
	acked := l.store.State().Incident(inc.GetId())
	evs := listEvents(t, l, 0)
	if len(evs) != 2 || evs[0].Type != incident.EventOpened || evs[1].Type != incident.EventAcknowledged || evs[0].IncidentID != inc.GetId() ||
		evs[1].Sequence != strconv.FormatUint(acked.GetSequence(), 10) || evs[0].Time == "" {
		t.Fatalf("events %+v", evs)
	}
	c0, _ := strconv.ParseUint(evs[0].Cursor, 10, 64)
	c1, _ := strconv.ParseUint(evs[1].Cursor, 10, 64)
	if c1 <= c0 {
		t.Fatalf("cursors %d, %d", c0, c1)
	}
	if r := listEvents(t, f, c0); len(r) != 1 || r[0].Cursor != evs[1].Cursor {
		t.Fatalf("resume after %d on the follower: %+v", c0, r)
	}
	if a := l.do(t, "GET", "/v1/events?pageSize=-1", nil, ""); a.code != http.StatusBadRequest {
		t.Errorf("negative page size: %d", a.code)
	}
	if a := l.do(t, "GET", "/v1/events:stream?after=x", nil, ""); a.code != http.StatusBadRequest {
		t.Errorf("SSE with a bad cursor: %d %s", a.code, a.body)
	}
	sse := openSSE(t, f, map[string]string{"Last-Event-ID": evs[0].Cursor})
	if e := apitest.NextSSE(t, sse); e.ID != evs[1].Cursor || e.Event != incident.EventAcknowledged {
		t.Fatalf("first SSE event %+v", e)
	}
	if r := l.do(t, "POST", url+":resolve", nil, `{"actor":"bob"}`); r.code != 200 {
		t.Fatalf("resolve: %d %s", r.code, r.body)
	}
	if e := apitest.NextSSE(t, sse); e.Event != incident.EventResolved || !strings.Contains(e.Data, inc.GetId()) {
		t.Fatalf("live SSE event %+v", e)
	} else if id, _ := strconv.ParseUint(e.ID, 10, 64); id <= c1 {
		t.Fatalf("SSE id %s not above %d", e.ID, c1)
	}
}

// A cursor below the compacted floor answers 410 Gone (CURSOR_COMPACTED)
// on the feed and on SSE; above it the feed goes on.
func TestRESTEventsCompactedGone(t *testing.T) {
	tw := newTwin(t, twinConfig{storeOpts: []func(*store.Config){func(c *store.Config) { c.MaxIncidentEvents = 1 }}})
	inc := tw.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	if a := tw.do(t, "POST", "/v1/incidents/"+inc.GetId()+":acknowledge", nil, `{"actor":"alice"}`); a.code != 200 {
		t.Fatalf("ack: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "GET", "/v1/events?after=0", nil, ""); a.code != http.StatusGone || !strings.Contains(a.body, ReasonCursorCompacted) {
		t.Fatalf("compacted cursor: %d %s", a.code, a.body)
	}
	if s := tw.do(t, "GET", "/v1/events:stream", map[string]string{"Last-Event-ID": "0"}, ""); s.code != http.StatusGone {
		t.Fatalf("SSE compacted: %d %s", s.code, s.body)
	}
	if r := listEvents(t, tw, 1); len(r) != 1 || r[0].Type != incident.EventAcknowledged {
		t.Fatalf("after floor: %+v", r)
	}
	// gRPC streams refuse the cursor the same way.
	st, err := tw.ctl().GetEventStream(t.Context(), &mxv1.GetEventStreamRequest{After: 0})
	if err == nil {
		_, err = st.Recv()
	}
	if err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("gRPC stream from a compacted cursor: %v", err)
	}
}
