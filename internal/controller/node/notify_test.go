package node

import (
	"encoding/json"
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
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// hookReceiver is a Standard Webhooks receiver that verifies signatures and
// records every request, deduping by webhook-id.
type hookReceiver struct {
	mu       sync.Mutex
	accept   func(typ string) bool
	requests int
	acked    map[string]int    // webhook-id -> 2xx answers
	types    map[string]string // webhook-id -> type
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if !strings.Contains(r.Header.Get("webhook-signature"), notify.WebhookSign([]byte("failover-secret"), id, sec, body)) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b notify.WebhookBody
	_ = json.Unmarshal(body, &b)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if !h.accept(b.Type) {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.acked[id]++
	h.types[id] = b.Type
	w.WriteHeader(http.StatusOK)
}

// Kill the leader while deliveries are pending: the next leader sends them
// (same webhook-id), does not repeat the ones the receiver acknowledged and
// the old leader recorded, and the receiver ends with every event at least
// once, exactly once after dedup by webhook-id.
func TestNotificationsSurviveLeaderFailover(t *testing.T) {
	rcv := &hookReceiver{acked: map[string]int{}, types: map[string]string{}}
	var mu sync.Mutex
	failover := false
	rcv.accept = func(typ string) bool {
		mu.Lock()
		defer mu.Unlock()
		return failover || typ == incident.EventOpened
	}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	nodes := newCluster(t, 3, nil, func(c *Config) {
		c.Correlation = correlate.LoopConfig{Interval: 50 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1, SilentAfter: time.Hour}}
		c.Notify = notify.Config{AllowPrivate: true, Interval: 20 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			MaxAttempts: 1000, Webhooks: []notify.WebhookConfig{{Name: "ops", URL: srv.URL, Secrets: []string{"failover-secret"}}}}
	})
	l := leader(t, nodes)
	s, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge02")
	sendBatch(t, s, 1, "CERT_NO_PRIVATE_KEY")
	var inc *mxv1.Incident
	waitUntil(t, 10*time.Second, "incident opened", func() bool {
		incs := incidentsOf(l.n)
		if len(incs) == 1 && incs[0].GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
			inc = incs[0]
			return true
		}
		return false
	})
	opened := "ops/" + notify.EventID(inc.GetId(), inc.GetSequence())
	waitUntil(t, 10*time.Second, "opened delivered and recorded", func() bool {
		return l.n.Store().State().Delivery(opened).GetStatus() == mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
	})
	if _, _, err := l.n.Store().ApplyIncidentAction(t.Context(), &mxv1.IncidentAction{IncidentId: inc.GetId(), Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "acknowledged pending and attempted", func() bool {
		rcv.mu.Lock()
		n := rcv.requests
		rcv.mu.Unlock()
		return n >= 3 && len(l.n.Store().State().Deliveries("ops", mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING)) == 1
	})
	_ = s.CloseSend()
	oldID := l.cfg.NodeID
	l.stop()
	mu.Lock()
	failover = true
	mu.Unlock()
	l2 := leader(t, nodes)
	if l2.cfg.NodeID == oldID {
		t.Fatal("stopped node still leads")
	}
	if _, _, err := l2.n.Store().ApplyIncidentAction(t.Context(), &mxv1.IncidentAction{IncidentId: inc.GetId(), Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	st := l2.n.Store().State()
	waitUntil(t, 15*time.Second, "every delivery delivered on the new leader", func() bool {
		ds := st.Deliveries("ops", 0)
		if len(ds) < 3 {
			return false
		}
		for _, d := range ds {
			if d.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED {
				return false
			}
		}
		return true
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range st.Deliveries("ops", 0) {
		id := d.GetEvent().GetId()
		if rcv.acked[id] == 0 {
			t.Errorf("event %s (%s) never reached the receiver", id, d.GetEvent().GetType())
		}
		seen[d.GetEvent().GetType()] = true
	}
	for _, typ := range []string{incident.EventOpened, incident.EventAcknowledged, incident.EventResolved} {
		if !seen[typ] {
			t.Errorf("no %s event", typ)
		}
	}
	// Acknowledged by the receiver and recorded before the failover: not repeated.
	if n := rcv.acked[notify.EventID(inc.GetId(), inc.GetSequence())]; n != 1 {
		t.Errorf("opened event acknowledged %d times, want exactly 1", n)
	}
}
