package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
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
	a := apitest.Do(t, method, url, header, body)
	return httpAnswer{a.Code, a.Header, a.Body}
}

type restEvent = apitest.Event

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

// The change feed on a real 3-node cluster: each node serves the same
// events under the same cursors from its own applied state, and SSE on a
// follower resumes with Last-Event-ID and carries what the leader applies
// next. (Preconditions, idempotency and the feed's paging are api's
// tests, on its in-memory twin.)
func TestRESTEventsSameOnEveryNodeAndSSEOnAFollower(t *testing.T) {
	nodes := newCluster(t, 3, nil, fastCorrelation)
	l := leader(t, nodes)
	inc := openIncident(t, l.n)
	base := "http://" + l.n.HTTPAddr()
	url := base + "/v1/incidents/" + inc.GetId()
	if a := do(t, "POST", url+":acknowledge", nil, `{"actor":"alice","comment":"on it"}`); a.code != 200 {
		t.Fatalf("ack: %d %s", a.code, a.body)
	}
	evs := listEvents(t, base, 0, "")
	if len(evs) != 2 || evs[0].Type != incident.EventOpened || evs[1].Type != incident.EventAcknowledged || evs[0].IncidentID != inc.GetId() {
		t.Fatalf("events %+v", evs)
	}
	c1, _ := strconv.ParseUint(evs[1].Cursor, 10, 64)
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
	sse := apitest.ReadSSE(resp.Body)
	if e := apitest.NextSSE(t, sse); e.ID != evs[1].Cursor || e.Event != incident.EventAcknowledged {
		t.Fatalf("first SSE event %+v", e)
	}
	if r := do(t, "POST", url+":resolve", nil, `{"actor":"bob"}`); r.code != 200 {
		t.Fatalf("resolve: %d %s", r.code, r.body)
	}
	if e := apitest.NextSSE(t, sse); e.Event != incident.EventResolved || !strings.Contains(e.Data, inc.GetId()) {
		t.Fatalf("live SSE event %+v", e)
	} else if id, _ := strconv.ParseUint(e.ID, 10, 64); id <= c1 {
		t.Fatalf("SSE id %s not above %d", e.ID, c1)
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
