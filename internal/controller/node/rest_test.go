package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

func fastCorrelation(c *Config) {
	c.Correlation = correlate.LoopConfig{Interval: 50 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1, SilentAfter: time.Hour}}
}

type httpAnswer struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, header map[string]string, body string) httpAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, resp.Header, b}
}

type restEvent struct {
	Cursor     string `json:"cursor"`
	Type       string `json:"type"`
	IncidentID string `json:"incidentId"`
	Sequence   string `json:"sequence"`
	Time       string `json:"time"`
}

func listEvents(t *testing.T, base string, after uint64, extra string) []restEvent {
	t.Helper()
	a := do(t, "GET", fmt.Sprintf("%s/v1/events?after=%d%s", base, after, extra), nil, "")
	if a.code != 200 {
		t.Fatalf("events: %d %s", a.code, a.body)
	}
	var r struct {
		Events []restEvent `json:"events"`
	}
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Events
}

func openIncident(t *testing.T, n *Node) *mxv1.Incident {
	t.Helper()
	s, _ := connect(t, dial(t, n.GRPCAddr()), "edge02")
	sendBatch(t, s, 1, "CERT_NO_PRIVATE_KEY")
	var inc *mxv1.Incident
	waitUntil(t, 10*time.Second, "incident opened", func() bool {
		incs := incidentsOf(n)
		if len(incs) == 1 && incs[0].GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
			inc = incs[0]
			return true
		}
		return false
	})
	return inc
}

// ETag / If-None-Match, If-Match and etag (412), Idempotency-Key, and the
// change feed (order, resume, every node the same) and SSE resume, over
// plain HTTP against a real 3-node cluster.
func TestRESTIncidentPreconditionsIdempotencyAndEvents(t *testing.T) {
	nodes := newCluster(t, 3, nil, fastCorrelation)
	l := leader(t, nodes)
	inc := openIncident(t, l.n)
	base := "http://" + l.n.HTTPAddr()
	url := base + "/v1/incidents/" + inc.GetId()

	g := do(t, "GET", url, nil, "")
	tag := g.header.Get("ETag")
	if g.code != 200 || tag != fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()) {
		t.Fatalf("GET: %d ETag %q", g.code, tag)
	}
	if nm := do(t, "GET", url, map[string]string{"If-None-Match": tag}, ""); nm.code != http.StatusNotModified || len(nm.body) != 0 || nm.header.Get("ETag") != tag {
		t.Fatalf("If-None-Match: %d %q %q", nm.code, nm.header.Get("ETag"), nm.body)
	}

	stale := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+5)
	if a := do(t, "POST", url+":acknowledge", map[string]string{"If-Match": stale}, `{"actor":"alice"}`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", a.code, a.body)
	}
	if a := do(t, "POST", url+":acknowledge", nil, `{"actor":"alice","etag":`+strconv.Quote(stale)+`}`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale etag field: %d %s", a.code, a.body)
	} else {
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(a.body, &e) != nil || e.Code != 10 || e.Message == "" {
			t.Fatalf("error body %s", a.body)
		}
	}

	body := `{"actor":"alice","comment":"on it","etag":` + strconv.Quote(tag) + `}`
	hdr := map[string]string{"Idempotency-Key": "ack-7f3a"}
	first := do(t, "POST", url+":acknowledge", hdr, body)
	if first.code != 200 {
		t.Fatalf("ack: %d %s", first.code, first.body)
	}
	again := do(t, "POST", url+":acknowledge", hdr, body)
	if again.code != 200 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("ETag") != first.header.Get("ETag") {
		t.Fatalf("replay: %d %q %s", again.code, again.header, again.body)
	}
	if d := do(t, "POST", url+":acknowledge", hdr, `{"actor":"mallory"}`); d.code != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", d.code, d.body)
	}
	acked := l.n.Store().State().Incident(inc.GetId())
	n := 0
	for _, e := range acked.GetTimeline() {
		if e.GetKind() == "acknowledged" {
			n++
		}
	}
	if n != 1 || acked.GetSequence() != inc.GetSequence()+1 {
		t.Fatalf("%d acknowledged entries, sequence %d", n, acked.GetSequence())
	}
	if g2 := do(t, "GET", url, map[string]string{"If-None-Match": tag}, ""); g2.code != 200 || g2.header.Get("ETag") == tag {
		t.Fatalf("changed incident: %d %q", g2.code, g2.header.Get("ETag"))
	}

	evs := listEvents(t, base, 0, "")
	if len(evs) != 2 || evs[0].Type != store.EventOpened || evs[1].Type != store.EventAcknowledged || evs[0].IncidentID != inc.GetId() ||
		evs[1].Sequence != strconv.FormatUint(acked.GetSequence(), 10) || evs[0].Time == "" {
		t.Fatalf("events %+v", evs)
	}
	c0, _ := strconv.ParseUint(evs[0].Cursor, 10, 64)
	c1, _ := strconv.ParseUint(evs[1].Cursor, 10, 64)
	if c1 <= c0 {
		t.Fatalf("cursors %d, %d", c0, c1)
	}
	if r := listEvents(t, base, c0, ""); len(r) != 1 || r[0].Cursor != evs[1].Cursor {
		t.Fatalf("resume after %d: %+v", c0, r)
	}
	// Every node serves the same feed from its own applied state.
	for _, tn := range nodes {
		waitUntil(t, 5*time.Second, "follower feed", func() bool {
			r := listEvents(t, "http://"+tn.n.HTTPAddr(), 0, "&stale=true")
			return fmt.Sprint(r) == fmt.Sprint(evs)
		})
	}

	// SSE on a follower, resumed with Last-Event-ID: the acknowledged event,
	// then the resolution as it happens.
	var follower *testNode
	for _, tn := range nodes {
		if tn != l {
			follower = tn
			break
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+follower.n.HTTPAddr()+"/v1/events:stream", nil)
	req.Header.Set("Last-Event-ID", evs[0].Cursor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sse := readSSE(resp.Body)
	if e := nextSSE(t, sse); e.id != evs[1].Cursor || e.event != store.EventAcknowledged {
		t.Fatalf("first SSE event %+v", e)
	}
	if r := do(t, "POST", url+":resolve", nil, `{"actor":"bob"}`); r.code != 200 {
		t.Fatalf("resolve: %d %s", r.code, r.body)
	}
	if e := nextSSE(t, sse); e.event != store.EventResolved || !strings.Contains(e.data, inc.GetId()) {
		t.Fatalf("live SSE event %+v", e)
	} else if id, _ := strconv.ParseUint(e.id, 10, 64); id <= c1 {
		t.Fatalf("SSE id %s not above %d", e.id, c1)
	}
}

type sseEvent struct{ id, event, data string }

func readSSE(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" || e.data != "" {
					ch <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return ch
}

func nextSSE(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("SSE stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no SSE event")
	}
	return sseEvent{}
}

// A cursor below the compacted floor answers 410 Gone on the feed and SSE.
func TestRESTEventsCompactedGone(t *testing.T) {
	old := store.MaxIncidentEvents
	store.MaxIncidentEvents = 1
	t.Cleanup(func() { store.MaxIncidentEvents = old })
	nodes := newCluster(t, 1, nil, fastCorrelation)
	l := leader(t, nodes)
	inc := openIncident(t, l.n)
	base := "http://" + l.n.HTTPAddr()
	if a := do(t, "POST", base+"/v1/incidents/"+inc.GetId()+":acknowledge", nil, `{"actor":"alice"}`); a.code != 200 {
		t.Fatalf("ack: %d %s", a.code, a.body)
	}
	a := do(t, "GET", base+"/v1/events?after=0", nil, "")
	if a.code != http.StatusGone || !strings.Contains(string(a.body), "CURSOR_COMPACTED") {
		t.Fatalf("compacted cursor: %d %s", a.code, a.body)
	}
	if s := do(t, "GET", base+"/v1/events:stream", map[string]string{"Last-Event-ID": "0"}, ""); s.code != http.StatusGone {
		t.Fatalf("SSE compacted: %d %s", s.code, s.body)
	}
	if r := listEvents(t, base, 1, ""); len(r) != 1 || r[0].Type != store.EventAcknowledged {
		t.Fatalf("after floor: %+v", r)
	}
}

// A delivery that failed (400, not retried) is listed through the API and
// redelivered to the receiver; a target disabled by 410 is re-enabled.
func TestRESTRedeliverFailedDelivery(t *testing.T) {
	var mu sync.Mutex
	answer := http.StatusBadRequest
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("webhook-id"))
		w.WriteHeader(answer)
	}))
	defer srv.Close()
	nodes := newCluster(t, 1, nil, fastCorrelation, func(c *Config) {
		c.Notify = notify.Config{AllowPrivate: true, Interval: 20 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			MaxAttempts: 3, Webhooks: []notify.WebhookConfig{{Name: "ops", URL: srv.URL, Secrets: []string{"s"}}}}
	})
	l := leader(t, nodes)
	openIncident(t, l.n)
	base := "http://" + l.n.HTTPAddr()
	var failed []*mxv1.Delivery
	waitUntil(t, 10*time.Second, "a failed delivery listed", func() bool {
		a := do(t, "GET", base+"/v1/deliveries?status=FAILED", nil, "")
		var r struct {
			Deliveries []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"deliveries"`
		}
		_ = json.Unmarshal(a.body, &r)
		failed = l.n.Store().State().Deliveries("ops", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED)
		return a.code == 200 && len(r.Deliveries) == 1 && r.Deliveries[0].Status == "DELIVERY_STATUS_FAILED" && len(failed) == 1 && r.Deliveries[0].ID == failed[0].GetId()
	})
	id := failed[0].GetId()
	mu.Lock()
	answer = http.StatusOK
	before := len(got)
	mu.Unlock()
	if a := do(t, "POST", base+"/v1/deliveries/"+id+":redeliver", nil, `{}`); a.code != 200 {
		t.Fatalf("redeliver: %d %s", a.code, a.body)
	}
	waitUntil(t, 10*time.Second, "redelivered", func() bool {
		return l.n.Store().State().Delivery(id).GetStatus() == mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
	})
	mu.Lock()
	if len(got) != before+1 || got[len(got)-1] != failed[0].GetEvent().GetId() {
		t.Errorf("receiver got %v after redeliver (before %d)", got, before)
	}
	mu.Unlock()
	if a := do(t, "POST", base+"/v1/deliveries/"+id+":redeliver", nil, `{}`); a.code != http.StatusBadRequest {
		t.Fatalf("redeliver a delivered one: %d %s", a.code, a.body)
	}
	if a := do(t, "POST", base+"/v1/deliveries/ops/msg_nope:redeliver", nil, `{}`); a.code != http.StatusNotFound {
		t.Fatalf("redeliver unknown: %d %s", a.code, a.body)
	}

	// 410 disables the endpoint; the API re-enables it.
	if err := l.n.Store().NotifyTargetState(t.Context(), &mxv1.NotifyTargetState{Target: "ops", Disabled: true, Reason: "410 Gone"}); err != nil {
		t.Fatal(err)
	}
	if a := do(t, "GET", base+"/v1/notify/targets", nil, ""); a.code != 200 || !strings.Contains(string(a.body), `"disabled":true`) {
		t.Fatalf("targets: %d %s", a.code, a.body)
	}
	if a := do(t, "POST", base+"/v1/notify/targets/ops:enable", nil, `{}`); a.code != 200 || strings.Contains(string(a.body), `"disabled":true`) {
		t.Fatalf("enable: %d %s", a.code, a.body)
	}
	if l.n.Store().State().NotifyTarget("ops").GetDisabled() {
		t.Fatal("still disabled")
	}
}
