package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// restDelivery is a delivery as GET /v1/deliveries answers it.
type restDelivery struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"lastError"`
	LastHTTPStatus int        `json:"lastHttpStatus"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
}

// listDeliveries is GET /v1/deliveries on tn; nil while the node cannot
// answer (503 while no leader is known: a loaded machine may elect anew).
func listDeliveries(t *testing.T, tn *testNode) []restDelivery {
	t.Helper()
	a := do(t, "GET", "http://"+tn.n.HTTPAddr()+"/v1/deliveries", nil, "")
	var r struct {
		Deliveries []restDelivery `json:"deliveries"`
	}
	if a.code == http.StatusServiceUnavailable {
		return nil
	}
	if a.code != 200 || json.Unmarshal(a.body, &r) != nil {
		t.Fatalf("GET /v1/deliveries on %s: %d %s", tn.cfg.NodeID, a.code, a.body)
	}
	return r.Deliveries
}

// An endpoint that is down: /v1/deliveries (on a follower) shows the
// delivery PENDING with its attempts, the last error and when the next
// attempt is due; the leader is stopped and the next one carries on with
// the replicated count instead of starting over; when the endpoint answers
// again the delivery goes through without anyone redelivering it.
func TestRESTDeliveriesShowRetriesAcrossLeaders(t *testing.T) {
	var mu sync.Mutex
	down, requests := true, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	nodes := newCluster(t, 3, nil, fastCorrelation, func(c *Config) {
		// Retried for an hour; the backoff grows to seconds, so a pending
		// delivery is seen between attempts.
		c.Notify = notify.Config{AllowPrivate: true, Interval: 20 * time.Millisecond, BackoffBase: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
			RetryFor: time.Hour, Webhooks: []notify.WebhookConfig{{Name: "ops", URL: srv.URL, Secrets: []string{"s"}}}}
	})
	reportToLeader(t, nodes, "edge02", 1, "CERT_NO_PRIVATE_KEY")
	l := leader(t, nodes)
	var f *testNode
	for _, tn := range nodes {
		if tn != l {
			f = tn
			break
		}
	}
	var d restDelivery
	waitUntil(t, 20*time.Second, "a pending delivery with three failed attempts listed on a follower", func() bool {
		ds := listDeliveries(t, f)
		if len(ds) != 1 {
			return false
		}
		d = ds[0]
		return d.Status == "DELIVERY_STATUS_PENDING" && d.Attempts >= 3
	})
	if d.LastError != "HTTP 503" || d.LastHTTPStatus != 503 || d.NextAttemptAt == nil || !d.NextAttemptAt.After(d.UpdatedAt) {
		t.Fatalf("pending delivery: %+v (want last error HTTP 503 and a next attempt after the last one)", d)
	}
	l = leader(t, nodes)
	old := l.cfg.NodeID
	l.stop()
	l2 := leader(t, nodes)
	if l2.cfg.NodeID == old {
		t.Fatal("stopped node still leads")
	}
	before := d.Attempts
	waitUntil(t, 20*time.Second, "the new leader's next failed attempt", func() bool {
		ds := listDeliveries(t, l2)
		if len(ds) != 1 {
			return false
		}
		d = ds[0]
		return d.Attempts > before
	})
	if d.Status != "DELIVERY_STATUS_PENDING" || d.LastError != "HTTP 503" || d.NextAttemptAt == nil {
		t.Fatalf("after the leader change: %+v", d)
	}
	// The count went on from the old leader's: it never restarted at 1.
	if d.Attempts <= before {
		t.Fatalf("attempts %d after %d before the leader change", d.Attempts, before)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	waitUntil(t, 20*time.Second, "delivered once the endpoint answers", func() bool {
		ds := listDeliveries(t, l2)
		if len(ds) != 1 {
			return false
		}
		d = ds[0]
		return d.Status == "DELIVERY_STATUS_DELIVERED"
	})
	if d.NextAttemptAt != nil || d.Attempts <= before {
		t.Fatalf("delivered: %+v (no next attempt, attempts counted across leaders)", d)
	}
}
