package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T) *store.Store { return storetest.Open(t) }

var t0 = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

// testIncident is an open SERVER incident (the seed case).
func testIncident() *mxv1.Incident {
	return &mxv1.Incident{
		Id: "inc-65c82a1cabe037e9-1", Fingerprint: "65c82a1cabe037e9" + strings.Repeat("0", 48), Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER,
		Cause: "CERT_NO_PRIVATE_KEY", Subject: "edge02.contoso.com/AB12", Severity: mxv1.Severity_SEVERITY_CRITICAL,
		State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Summary: "edge02: keyless duplicate certificate breaks outbound TLS",
		Remediation: "Remove-Item Cert:\\LocalMachine\\My\\AB12 on edge02.contoso.com", Direction: mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND,
		RootCause: &mxv1.RootCause{Code: "CERT_NO_PRIVATE_KEY", Subject: "AB12", Host: "edge02.contoso.com", Site: "amsterdam"},
		Hosts:     []string{"edge02.contoso.com"}, Sites: []string{"amsterdam"}, Agents: []string{"edge02"},
		FirstSeen: timestamppb.New(t0), OpenedAt: timestamppb.New(t0), UpdatedAt: timestamppb.New(t0), Occurrence: 1,
	}
}

// put stores inc at the next sequence.
func put(t *testing.T, s *store.Store, inc *mxv1.Incident) *mxv1.Incident {
	t.Helper()
	inc = proto.CloneOf(inc)
	inc.Sequence, inc.Revision = 1, 1
	if old := s.State().Incident(inc.GetId()); old != nil {
		inc.Sequence, inc.Revision = old.GetSequence()+1, old.GetRevision()+1
	}
	res, err := s.ProposeIncidents(context.Background(), &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}})
	if err != nil || res.Applied != 1 {
		t.Fatalf("put incident: %+v %v", res, err)
	}
	return inc
}

func act(t *testing.T, s *store.Store, id string, k mxv1.IncidentActionKind) {
	t.Helper()
	if _, _, err := s.ApplyIncidentAction(context.Background(), &mxv1.IncidentAction{IncidentId: id, Action: k, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
}

// receiver is a real HTTP receiver recording every request; respond picks
// the answer to the n-th request (0-based).
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	respond func(n int, r recorded) (int, http.Header)
	verify  func(r recorded) error
}

type recorded struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   []byte
	user   string
	pass   string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := recorded{at: time.Now(), method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: b}
		rec.user, rec.pass, _ = r.BasicAuth()
		if rc.verify != nil {
			if err := rc.verify(rec); err != nil {
				t.Errorf("receiver: %v", err)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, rec)
		respond := rc.respond
		rc.mu.Unlock()
		code, h := http.StatusOK, http.Header(nil)
		if respond != nil {
			code, h = respond(n, rec)
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testConfig() Config {
	return Config{AllowPrivate: true, Interval: 10 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		MaxAttempts: 4, Timeout: 5 * time.Second, Logger: quietLog(), ExternalURL: "https://mxprobe.contoso.com"}
}

// runSender starts the sender as the leader would; stopped at cleanup.
func runSender(t *testing.T, s *store.Store, cfg Config) {
	t.Helper()
	snd, err := NewSender(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); snd.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

const secretOld = "whsec_" + "c2VjcmV0LW9sZC0xMjM0NTY3ODkw" // base64("secret-old-1234567890")

// verifyWebhook checks Standard Webhooks headers against any of the keys.
func verifyWebhook(keys ...[]byte) func(recorded) error {
	return func(r recorded) error {
		id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || id == "" {
			return errf("missing webhook-id/timestamp")
		}
		if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
			return errf("timestamp outside tolerance")
		}
		sigs := strings.Fields(r.header.Get("webhook-signature"))
		for _, k := range keys {
			want := WebhookSign(k, id, sec, r.body)
			for _, s := range sigs {
				if s == want {
					return nil
				}
			}
		}
		return errf("no valid signature")
	}
}

type errf string

func (e errf) Error() string { return string(e) }

func TestWebhookSignedLifecycle(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	oldKey, _ := WebhookKey(secretOld)
	rc.verify = verifyWebhook([]byte("new-secret")) // the receiver already rotated
	cfg := testConfig()
	cfg.Webhooks = []WebhookConfig{{Name: "ops", URL: rc.srv.URL + "/hook", Secrets: []string{secretOld, "new-secret"}}}
	runSender(t, s, cfg)

	inc := put(t, s, testIncident())
	waitFor(t, "opened", func() bool { return len(rc.requests()) == 1 })
	// A change of the damping counters only is not an update.
	quiet := proto.CloneOf(inc)
	quiet.Observations = 9
	put(t, s, quiet)
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE)
	waitFor(t, "acknowledged", func() bool { return len(rc.requests()) == 2 })
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "resolved", func() bool { return len(rc.requests()) == 3 })

	reqs := rc.requests()
	var types []string
	var seqs []uint64
	for _, r := range reqs {
		if err := verifyWebhook(oldKey)(r); err != nil {
			t.Errorf("old secret's signature: %v", err)
		}
		if r.path != "/hook" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s", r.path, r.header.Get("Content-Type"))
		}
		var b WebhookBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		types = append(types, b.Type)
		seqs = append(seqs, b.Data.Sequence)
		if r.header.Get("webhook-id") != EventID(inc.GetId(), b.Data.Sequence) {
			t.Errorf("webhook-id %s", r.header.Get("webhook-id"))
		}
	}
	if strings.Join(types, ",") != "incident.opened,incident.acknowledged,incident.resolved" {
		t.Fatalf("types %v", types)
	}
	if !(seqs[0] == 1 && seqs[1] == 3 && seqs[2] == 4) {
		t.Fatalf("sequences %v", seqs)
	}
	// Exact payload of the first event.
	var got map[string]any
	_ = json.Unmarshal(reqs[0].body, &got)
	want := map[string]any{
		"type": "incident.opened", "timestamp": "2026-11-25T13:00:00Z",
		"data": map[string]any{
			"id": "inc-65c82a1cabe037e9-1", "fingerprint": inc.GetFingerprint(), "sequence": 1.0, "state": "OPEN", "severity": "CRITICAL",
			"scope": "SERVER", "cause": "CERT_NO_PRIVATE_KEY", "subject": "edge02.contoso.com/AB12",
			"summary": "edge02: keyless duplicate certificate breaks outbound TLS", "remediation": "Remove-Item Cert:\\LocalMachine\\My\\AB12 on edge02.contoso.com",
			"direction": "OUTBOUND", "root_cause": map[string]any{"code": "CERT_NO_PRIVATE_KEY", "subject": "AB12", "host": "edge02.contoso.com", "site": "amsterdam"},
			"hosts": []any{"edge02.contoso.com"}, "sites": []any{"amsterdam"}, "agents": []any{"edge02"}, "occurrence": 1.0,
			"first_seen": "2026-11-25T13:00:00Z", "opened_at": "2026-11-25T13:00:00Z", "updated_at": "2026-11-25T13:00:00Z",
			"affected_system": "edge02.contoso.com",
			"url":             "https://mxprobe.contoso.com/incidents/inc-65c82a1cabe037e9-1",
			"api_url":         "https://mxprobe.contoso.com/v1/incidents/inc-65c82a1cabe037e9-1",
		},
	}
	if a, b := mustJSON(got), mustJSON(want); a != b {
		t.Fatalf("payload\n got %s\nwant %s", a, b)
	}
	waitFor(t, "all delivered", func() bool {
		return len(s.State().Deliveries("ops", mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED)) == 3
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestWebhookRetriesHonourRetryAfter(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	rc.respond = func(n int, _ recorded) (int, http.Header) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, nil
		case 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusNoContent, nil
	}
	cfg := testConfig()
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	runSender(t, s, cfg)
	put(t, s, testIncident())
	waitFor(t, "delivered", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED)) == 1
	})
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if reqs[0].header.Get("webhook-id") != reqs[2].header.Get("webhook-id") || string(reqs[0].body) != string(reqs[2].body) {
		t.Fatal("webhook-id or body changed across retries")
	}
	if gap := reqs[2].at.Sub(reqs[1].at); gap < time.Second {
		t.Fatalf("Retry-After 1 not honoured: retried after %v", gap)
	}
	d := s.State().Deliveries("webhook", 0)[0]
	if d.GetAttempts() != 3 || d.GetLastHttpStatus() != 204 {
		t.Fatalf("delivery %v", d)
	}
}

func TestWebhookNoRetryOn400ThenRedeliver(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	var fail sync.Mutex
	failing := true
	rc.respond = func(int, recorded) (int, http.Header) {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return http.StatusBadRequest, nil
		}
		return http.StatusOK, nil
	}
	cfg := testConfig()
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	runSender(t, s, cfg)
	put(t, s, testIncident())
	waitFor(t, "failed", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED)) == 1
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d requests after a 400, want 1 (no retry)", n)
	}
	d := s.State().Deliveries("webhook", 0)[0]
	if d.GetLastHttpStatus() != 400 || d.GetLastError() != "HTTP 400" {
		t.Fatalf("delivery %v", d)
	}
	fail.Lock()
	failing = false
	fail.Unlock()
	if err := s.NotifyRedeliver(context.Background(), &mxv1.NotifyRedeliver{DeliveryIds: []string{d.GetId()}, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redelivered", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED)) == 1
	})
	if reqs := rc.requests(); len(reqs) != 2 || reqs[0].header.Get("webhook-id") != reqs[1].header.Get("webhook-id") {
		t.Fatalf("redelivery: %d requests", len(reqs))
	}
}

func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	rc.respond = func(int, recorded) (int, http.Header) { return http.StatusGone, nil }
	cfg := testConfig()
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	waitFor(t, "disabled", func() bool { ts := s.State().NotifyTarget("webhook"); return ts != nil && ts.GetDisabled() })
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d requests, want 1: a 410 disables the endpoint", n)
	}
	if d := s.State().Deliveries("webhook", 0); len(d) != 1 || d[0].GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED {
		t.Fatalf("deliveries %v", d)
	}
}

func TestPagerDutyEvents(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	rc.respond = func(n int, _ recorded) (int, http.Header) {
		if n == 0 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusAccepted, nil
	}
	cfg := testConfig()
	cfg.PagerDuty = &PagerDutyConfig{URL: rc.srv.URL + "/v2/enqueue", RoutingKey: "R0UT1NGKEY"}
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	waitFor(t, "trigger", func() bool { return len(rc.requests()) == 2 })
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE)
	waitFor(t, "acknowledge", func() bool { return len(rc.requests()) == 3 })
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "resolve", func() bool { return len(rc.requests()) == 4 })
	reqs := rc.requests()
	if string(reqs[0].body) != string(reqs[1].body) {
		t.Fatal("retried trigger differs")
	}
	var got map[string]any
	_ = json.Unmarshal(reqs[1].body, &got)
	cd := got["payload"].(map[string]any)["custom_details"]
	want := map[string]any{
		"routing_key": "R0UT1NGKEY", "event_action": "trigger", "dedup_key": inc.GetFingerprint(),
		"payload": map[string]any{
			"summary": inc.GetSummary(), "source": "edge02.contoso.com", "severity": "critical", "timestamp": "2026-11-25T13:00:00Z",
			"component": "edge02.contoso.com/AB12", "group": "amsterdam", "class": "CERT_NO_PRIVATE_KEY", "custom_details": cd,
		},
		"client": "mxprobe", "client_url": "https://mxprobe.contoso.com/incidents/" + inc.GetId(),
		"links": []any{map[string]any{"href": "https://mxprobe.contoso.com/incidents/" + inc.GetId(), "text": "mxprobe incident " + inc.GetId()}},
	}
	if a, b := mustJSON(got), mustJSON(want); a != b {
		t.Fatalf("trigger\n got %s\nwant %s", a, b)
	}
	if cd.(map[string]any)["id"] != inc.GetId() {
		t.Fatalf("custom_details %v", cd)
	}
	for i, action := range map[int]string{2: "acknowledge", 3: "resolve"} {
		want := `{"routing_key":"R0UT1NGKEY","event_action":"` + action + `","dedup_key":"` + inc.GetFingerprint() + `"}`
		if string(reqs[i].body) != want {
			t.Errorf("%s: %s", action, reqs[i].body)
		}
	}
}

func TestServiceNowEvents(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.ServiceNow = &ServiceNowConfig{URL: rc.srv.URL + "/", Username: "mxprobe.integration", Password: "pa55"}
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	waitFor(t, "event", func() bool { return len(rc.requests()) == 1 })
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "clear", func() bool { return len(rc.requests()) == 2 })
	reqs := rc.requests()
	for _, r := range reqs {
		if r.path != "/api/global/em/jsonv2" || r.user != "mxprobe.integration" || r.pass != "pa55" {
			t.Fatalf("request %s as %s", r.path, r.user)
		}
	}
	var body ServiceNowEvents
	if err := json.Unmarshal(reqs[0].body, &body); err != nil || len(body.Records) != 1 {
		t.Fatalf("%s %v", reqs[0].body, err)
	}
	rec := body.Records[0]
	info := map[string]string{}
	if err := json.Unmarshal([]byte(rec.AdditionalInfo), &info); err != nil {
		t.Fatalf("additional_info must be a JSON string of strings: %v", err)
	}
	rec.AdditionalInfo = ""
	want := ServiceNowEvent{Source: "mxprobe", EventClass: "mxprobe", Node: "edge02.contoso.com", Resource: "edge02.contoso.com/AB12",
		MetricName: "CERT_NO_PRIVATE_KEY", Type: "mxprobe server", Severity: "1", MessageKey: inc.GetFingerprint(),
		Description: inc.GetSummary() + "\n\nFix: " + inc.GetRemediation() + "\n\nhttps://mxprobe.contoso.com/incidents/" + inc.GetId(), TimeOfEvent: "2026-11-25 13:00:00"}
	if rec != want {
		t.Fatalf("record\n got %+v\nwant %+v", rec, want)
	}
	if info["mxprobe_incident_id"] != inc.GetId() || info["mxprobe_state"] != "OPEN" || info["mxprobe_sequence"] != "1" {
		t.Fatalf("additional_info %v", info)
	}
	_ = json.Unmarshal(reqs[1].body, &body)
	if body.Records[0].Severity != "0" || body.Records[0].MessageKey != inc.GetFingerprint() {
		t.Fatalf("resolve must clear the same alert: %+v", body.Records[0])
	}
}

func TestAlertmanagerResendAndEndsAt(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.Alertmanager = &AlertmanagerConfig{URL: rc.srv.URL, ResendInterval: 100 * time.Millisecond, Labels: map[string]string{"cluster": "prod-eu"}}
	cfg.RunbookURL = "https://wiki.contoso.com/mail/{code_lower}"
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	waitFor(t, "re-sent while active", func() bool { return len(rc.requests()) >= 3 })
	// Active alerts end by themselves unless re-posted: endsAt in the future.
	for _, r := range rc.requests() {
		var as []Alert
		if err := json.Unmarshal(r.body, &as); err != nil || len(as) != 1 || as[0].EndsAt == nil || !as[0].EndsAt.After(r.at) || as[0].EndsAt.After(r.at.Add(time.Second)) {
			t.Fatalf("active alert without endsAt about 4 resends ahead: %s (%v)", r.body, err)
		}
	}
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	var resolved []Alert
	waitFor(t, "endsAt", func() bool {
		for _, r := range rc.requests() {
			var as []Alert
			if json.Unmarshal(r.body, &as) == nil && len(as) == 1 && as[0].EndsAt != nil && !as[0].EndsAt.After(r.at) {
				resolved = as
				return true
			}
		}
		return false
	})
	for _, r := range rc.requests() {
		if r.path != "/api/v2/alerts" || r.method != http.MethodPost {
			t.Fatalf("%s %s", r.method, r.path)
		}
	}
	a := resolved[0]
	if a.Labels["alertname"] != "MxprobeIncident" || a.Labels["fingerprint"] != inc.GetFingerprint() || a.Labels["severity"] != "critical" ||
		a.Annotations["summary"] != inc.GetSummary() || a.Annotations["runbook_url"] != "https://wiki.contoso.com/mail/cert_no_private_key" ||
		a.Labels["cluster"] != "prod-eu" || a.Labels["instance"] != "edge02.contoso.com" || a.Labels["host"] != "edge02.contoso.com" ||
		!a.StartsAt.Equal(t0) || a.GeneratorURL != "https://mxprobe.contoso.com/incidents/"+inc.GetId() {
		t.Fatalf("alert %+v", a)
	}
	// Resolved: no longer re-sent.
	time.Sleep(150 * time.Millisecond)
	n := len(rc.requests())
	time.Sleep(300 * time.Millisecond)
	if m := len(rc.requests()); m != n {
		t.Fatalf("resolved incident still re-sent (%d -> %d)", n, m)
	}
}

func TestSSRFGuardRefusesLoopback(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.AllowPrivate = false
	cfg.MaxAttempts = 2
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	runSender(t, s, cfg)
	put(t, s, testIncident())
	waitFor(t, "failed", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED)) == 1
	})
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("loopback receiver reached %d times", n)
	}
	if e := s.State().Deliveries("webhook", 0)[0].GetLastError(); !strings.Contains(e, "not allowed") || strings.Contains(e, rc.srv.URL) {
		t.Fatalf("last_error %q", e)
	}
}

func TestWebhookKeyAndBackoff(t *testing.T) {
	k, err := WebhookKey(secretOld)
	if err != nil || string(k) != "secret-old-1234567890" {
		t.Fatalf("%q %v", k, err)
	}
	// Standard Webhooks reference vector.
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if got := WebhookSign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
	for n := 1; n < 20; n++ {
		d := backoff(n, time.Second, time.Minute)
		if d < time.Second/2 || d > time.Minute {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
	if d := retryAfter("7", time.Now()); d != 7*time.Second {
		t.Fatal(d)
	}
	if classify(400, nil) != outcomePermanent || classify(503, nil) != outcomeRetry || classify(429, nil) != outcomeRetry || classify(410, nil) != outcomeGone || classify(202, nil) != outcomeOK {
		t.Fatal("classify")
	}
}

// Retries are replicated: attempts, the last error and the next attempt are
// in the store after every failed attempt, a new leader's sender keeps the
// count and the schedule, a target that answers again gets its waiting
// deliveries at once, and a delivery is given up only after RetryFor.
func TestRetriesAreReplicatedAndResume(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	var mu sync.Mutex
	down := true
	rc.respond = func(int, recorded) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusNoContent, nil
	}
	cfg := testConfig()
	cfg.MaxAttempts, cfg.RetryFor = 0, time.Hour
	cfg.BackoffBase, cfg.BackoffMax = 50*time.Millisecond, time.Hour // the schedule grows past the test
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	snd, err := NewSender(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); snd.Run(ctx) }()
	inc := put(t, s, testIncident())
	waitFor(t, "three failed attempts recorded", func() bool {
		d := s.State().Deliveries("webhook", 0)
		return len(d) == 1 && d[0].GetAttempts() >= 3
	})
	cancel() // leadership lost
	<-done
	d := s.State().Deliveries("webhook", 0)[0]
	if d.GetStatus() != mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING || d.GetLastError() != "HTTP 503" || d.GetLastHttpStatus() != 503 ||
		d.GetNextAttemptAt() == nil || !d.GetNextAttemptAt().AsTime().After(d.GetUpdatedAt().AsTime()) {
		t.Fatalf("replicated retry state: %v", d)
	}
	if ts := s.State().NotifyTarget("webhook"); ts.GetFailedAttempts() != uint64(d.GetAttempts()) || ts.GetFailedDeliveries() != 0 || ts.GetLastError() != "HTTP 503" {
		t.Fatalf("target counters %v (attempts %d)", ts, d.GetAttempts())
	}
	// A new leader: its sender waits for the replicated next attempt (far
	// off: the backoff doubled) instead of starting over.
	before := len(rc.requests())
	runSender(t, s, cfg)
	if next := time.Until(d.GetNextAttemptAt().AsTime()); next > 500*time.Millisecond {
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.requests()); n != before {
			t.Fatalf("new leader retried before the replicated next attempt (%d -> %d requests, next in %v)", before, n, next)
		}
	}
	// The endpoint recovers; another incident's delivery succeeds, and the
	// waiting one follows at once instead of at its scheduled time.
	mu.Lock()
	down = false
	mu.Unlock()
	other := testIncident()
	other.Id, other.Fingerprint = "inc-0123456789abcdef-1", strings.Repeat("1", 64)
	put(t, s, other)
	waitFor(t, "both delivered", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED)) == 2
	})
	got := s.State().Delivery(d.GetId())
	if got.GetAttempts() != d.GetAttempts()+1 || got.GetNextAttemptAt() != nil {
		t.Fatalf("after recovery: attempts %d (before %d), next %v", got.GetAttempts(), d.GetAttempts(), got.GetNextAttemptAt())
	}
	_ = inc
}

// A delivery whose next attempt would fall past RetryFor is given up.
func TestRetryWindowGivesUp(t *testing.T) {
	s := openStore(t)
	rc := newReceiver(t)
	rc.respond = func(int, recorded) (int, http.Header) { return http.StatusBadGateway, nil }
	cfg := testConfig()
	cfg.MaxAttempts, cfg.RetryFor = 0, 300*time.Millisecond
	cfg.BackoffBase, cfg.BackoffMax = 20*time.Millisecond, 50*time.Millisecond
	cfg.Webhooks = []WebhookConfig{{URL: rc.srv.URL, Secrets: []string{"k"}}}
	runSender(t, s, cfg)
	put(t, s, testIncident())
	waitFor(t, "failed", func() bool {
		return len(s.State().Deliveries("webhook", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED)) == 1
	})
	d := s.State().Deliveries("webhook", 0)[0]
	if d.GetAttempts() < 2 || !strings.Contains(d.GetLastError(), "gave up after") {
		t.Fatalf("delivery %v", d)
	}
	if ts := s.State().NotifyTarget("webhook"); ts.GetFailedDeliveries() != 1 || ts.GetFailedAttempts() != uint64(d.GetAttempts()) {
		t.Fatalf("target counters %v", ts)
	}
}
