package notify

import (
	"context"
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

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// remote models what each receiver shows for each incident, following
// each protocol's documented semantics: a Standard Webhooks receiver keeps
// the highest sequence; PagerDuty's alert per dedup_key (a trigger on an
// open or acknowledged alert is deduplicated, acknowledge and resolve only
// act on an open one); ServiceNow Event Management's alert per message_key
// (severity 0 closes it); the ServiceNow incident table (lookup of active
// records by correlation_id, create, patch); Alertmanager's alert per label
// set (active while endsAt is in the future).
type remote struct {
	mu      sync.Mutex
	hook    map[string]hookState // incident id
	pd      map[string]string    // dedup_key -> triggered | acknowledged | resolved
	sn      map[string]string    // message_key -> "open:<state>" | "closed"
	table   map[string]*tableRec // sys_id
	am      map[string]time.Time // fingerprint label -> endsAt
	nextSys int
	// violations are requests outside their receiver's schema.
	violations []string
}

type hookState struct {
	seq   uint64
	state string
}

type tableRec struct {
	correlation, state string
}

func newRemote(t *testing.T) (*remote, *httptest.Server) {
	rm := &remote{hook: map[string]hookState{}, pd: map[string]string{}, sn: map[string]string{}, table: map[string]*tableRec{}, am: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(rm.serve))
	t.Cleanup(srv.Close)
	return rm, srv
}

func (rm *remote) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	// Every request within its documented schema (schema_test.go); a
	// violation answers 400, which fails the delivery and the test.
	var schema func([]byte) error
	switch {
	case r.URL.Path == "/pd":
		schema = pagerDutySchema
	case r.URL.Path == "/sn"+ServiceNowPath:
		schema = serviceNowEventSchema
	case strings.HasPrefix(r.URL.Path, "/snt"+ServiceNowTablePath) && r.Method != http.MethodGet:
		schema = serviceNowTableSchema
	}
	if schema != nil {
		if err := schema(b); err != nil {
			rm.violations = append(rm.violations, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
			w.WriteHeader(400)
			return
		}
	}
	switch {
	case r.URL.Path == "/hook":
		var body WebhookBody
		if json.Unmarshal(b, &body) != nil {
			w.WriteHeader(400)
			return
		}
		if cur := rm.hook[body.Data.ID]; body.Data.Sequence >= cur.seq {
			rm.hook[body.Data.ID] = hookState{seq: body.Data.Sequence, state: body.Data.State}
		}
	case r.URL.Path == "/pd":
		var ev PagerDutyEvent
		if json.Unmarshal(b, &ev) != nil || ev.DedupKey == "" {
			w.WriteHeader(400)
			return
		}
		cur := rm.pd[ev.DedupKey]
		open := cur == "triggered" || cur == "acknowledged"
		switch ev.EventAction {
		case "trigger":
			if !open {
				if ev.Payload == nil || ev.Payload.Summary == "" || ev.Payload.Source == "" {
					w.WriteHeader(400)
					return
				}
				rm.pd[ev.DedupKey] = "triggered"
			}
		case "acknowledge":
			if open {
				rm.pd[ev.DedupKey] = "acknowledged"
			}
		case "resolve":
			if open {
				rm.pd[ev.DedupKey] = "resolved"
			}
		default:
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case r.URL.Path == "/sn"+ServiceNowPath:
		var body ServiceNowEvents
		if json.Unmarshal(b, &body) != nil {
			w.WriteHeader(400)
			return
		}
		for _, rec := range body.Records {
			sev, err := strconv.Atoi(rec.Severity)
			if err != nil || sev < 0 || sev > 5 {
				w.WriteHeader(400)
				return
			}
			info := map[string]string{}
			_ = json.Unmarshal([]byte(rec.AdditionalInfo), &info)
			if sev == 0 {
				if _, ok := rm.sn[rec.MessageKey]; ok {
					rm.sn[rec.MessageKey] = "closed"
				}
			} else {
				rm.sn[rec.MessageKey] = "open:" + info["mxprobe_state"]
			}
		}
	case strings.HasPrefix(r.URL.Path, "/snt"+ServiceNowTablePath):
		rm.table1(w, r, b)
		return
	case r.URL.Path == "/am"+AlertmanagerPath:
		var alerts []Alert
		if json.Unmarshal(b, &alerts) != nil {
			w.WriteHeader(400)
			return
		}
		for _, a := range alerts {
			end := time.Now().Add(5 * time.Minute) // resolve_timeout
			if a.EndsAt != nil {
				end = *a.EndsAt
			}
			rm.am[a.Labels["fingerprint"]] = end
		}
	default:
		w.WriteHeader(404)
	}
}

func (rm *remote) table1(w http.ResponseWriter, r *http.Request, b []byte) {
	active := func(state string) bool { return state != "7" && state != "8" }
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query().Get("sysparm_query")
		corr := strings.TrimSuffix(strings.TrimPrefix(q, "correlation_id="), "^active=true")
		type row struct {
			SysID string `json:"sys_id"`
			State string `json:"state"`
		}
		out := struct {
			Result []row `json:"result"`
		}{Result: []row{}}
		for id, rec := range rm.table {
			if rec.correlation == corr && active(rec.state) {
				out.Result = append(out.Result, row{id, rec.state})
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	case http.MethodPost:
		var rec ServiceNowTableRecord
		if json.Unmarshal(b, &rec) != nil || rec.CorrelationID == "" {
			w.WriteHeader(400)
			return
		}
		rm.nextSys++
		st := rec.State
		if st == "" {
			st = ServiceNowStateNew
		}
		rm.table[fmt.Sprint(rm.nextSys)] = &tableRec{correlation: rec.CorrelationID, state: st}
		w.WriteHeader(http.StatusCreated)
	case http.MethodPatch:
		id := strings.TrimPrefix(r.URL.Path, "/snt"+ServiceNowTablePath+"/")
		var rec ServiceNowTableRecord
		if json.Unmarshal(b, &rec) != nil || rm.table[id] == nil {
			w.WriteHeader(400)
			return
		}
		if rec.State != "" {
			rm.table[id].state = rec.State
		}
	}
}

// check compares every receiver's view of inc with its state.
func (rm *remote) check(inc *mxv1.Incident, told bool) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	st := incident.StateName(inc.GetState())
	fp := inc.GetFingerprint()
	var errs []string
	fail := func(target, got, want string) {
		errs = append(errs, fmt.Sprintf("%s shows %q, incident is %s (want %q)", target, got, st, want))
	}
	if !told {
		// Resolved before any receiver heard of it: nothing anywhere.
		if h, ok := rm.hook[inc.GetId()]; ok {
			fail("webhook", h.state, "")
		}
		if s, ok := rm.pd[fp]; ok {
			fail("pagerduty", s, "")
		}
		return joinErr(errs)
	}
	if got := rm.hook[inc.GetId()].state; got != st {
		fail("webhook", got, st)
	}
	want := map[mxv1.IncidentState]string{mxv1.IncidentState_INCIDENT_STATE_OPEN: "triggered",
		mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED: "acknowledged", mxv1.IncidentState_INCIDENT_STATE_RESOLVED: "resolved"}[inc.GetState()]
	if got := rm.pd[fp]; got != want {
		fail("pagerduty", got, want)
	}
	wantSN := "open:" + st
	if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		wantSN = "closed"
	}
	if got := rm.sn[fp]; got != wantSN {
		fail("servicenow", got, wantSN)
	}
	var states []string
	for _, rec := range rm.table {
		if rec.correlation == fp {
			states = append(states, rec.state)
		}
	}
	wantTable := map[mxv1.IncidentState][]string{mxv1.IncidentState_INCIDENT_STATE_OPEN: {ServiceNowStateNew, ServiceNowStateInProgress},
		mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED: {ServiceNowStateInProgress}, mxv1.IncidentState_INCIDENT_STATE_RESOLVED: {ServiceNowStateResolved}}[inc.GetState()]
	if len(states) != 1 || !contains(wantTable, states[0]) {
		fail("servicenow table", strings.Join(states, ","), strings.Join(wantTable, " or "))
	}
	end, ok := rm.am[fp]
	firing := ok && end.After(time.Now())
	if firing != incident.Unresolved(inc) {
		fail("alertmanager", fmt.Sprintf("firing=%v", firing), fmt.Sprintf("firing=%v", incident.Unresolved(inc)))
	}
	return joinErr(errs)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func joinErr(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

// TestRemoteStateFollowsIncidentState drives random incident histories
// (engine opens, observes, escalates, resolves, reopens; people
// acknowledge, resolve, attach tickets), with notification scans at random
// points (so several changes coalesce into one), through every target
// against receivers that behave like the real ones, and checks that at the
// end each receiver shows exactly the incident's state.
func TestRemoteStateFollowsIncidentState(t *testing.T) {
	s := openStore(t)
	rm, srv := newRemote(t)
	cfg := testConfig()
	cfg.MaxAttempts = 0
	cfg.Webhooks = []WebhookConfig{{URL: srv.URL + "/hook", Secrets: []string{"k"}}}
	cfg.PagerDuty = &PagerDutyConfig{URL: srv.URL + "/pd", RoutingKey: "R"}
	cfg.ServiceNow = &ServiceNowConfig{URL: srv.URL + "/sn", Username: "u", Password: "p"}
	cfg.Alertmanager = &AlertmanagerConfig{URL: srv.URL + "/am", ResendInterval: time.Minute}
	snd, err := NewSender(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One ServiceNow per configuration: the Table API mode joins as a
	// fifth target of the same sender.
	table, err := newServiceNowTable(ServiceNowConfig{Name: "servicenow-table", URL: srv.URL + "/snt", Username: "u", Password: "p", Mode: ServiceNowModeTable},
		linker{external: cfg.ExternalURL})
	if err != nil {
		t.Fatal(err)
	}
	snd.targets = append(snd.targets, table)
	var workers []*targetWorker
	for _, tg := range snd.targets {
		workers = append(workers, snd.worker(tg))
	}
	ctx := context.Background()
	scan := func(t *rapid.T) {
		if err := snd.Enqueue(ctx); err != nil && !quiet(err) {
			t.Fatalf("enqueue: %v", err)
		}
		for _, w := range workers {
			w.pass(ctx)
		}
	}
	iteration := 0
	rapid.Check(t, func(rt *rapid.T) {
		iteration++
		ids := []string{}
		for i := range rapid.IntRange(1, 3).Draw(rt, "incidents") {
			base := testIncident()
			base.Id = fmt.Sprintf("inc-prop%04d%d-1", iteration, i)
			base.Fingerprint = fmt.Sprintf("%064x", iteration*10+i)
			base.State = mxv1.IncidentState_INCIDENT_STATE_PENDING
			base.OpenedAt = nil
			put(t, s, base)
			ids = append(ids, base.GetId())
		}
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for range steps {
			id := rapid.SampledFrom(ids).Draw(rt, "incident")
			cur := s.State().Incident(id)
			next := proto.CloneOf(cur)
			now := timestamppb.Now()
			switch op := rapid.IntRange(0, 8).Draw(rt, "op"); op {
			case 0: // engine: opens (damped) / reopens
				switch cur.GetState() {
				case mxv1.IncidentState_INCIDENT_STATE_PENDING:
					next.State, next.OpenedAt = mxv1.IncidentState_INCIDENT_STATE_OPEN, now
					next.Timeline = append(next.Timeline, &mxv1.TimelineEntry{At: now, Kind: incident.KindOpened})
				case mxv1.IncidentState_INCIDENT_STATE_RESOLVED:
					next.State, next.ResolvedAt, next.AcknowledgedAt = mxv1.IncidentState_INCIDENT_STATE_OPEN, nil, nil
					next.Timeline = append(next.Timeline, &mxv1.TimelineEntry{At: now, Kind: incident.KindReopened})
				default:
					continue
				}
				put(t, s, next)
			case 1: // engine: observed again (counters only)
				next.Observations++
				put(t, s, next)
			case 2: // engine: a visible change (severity, summary), in any state
				next.Severity = rapid.SampledFrom([]mxv1.Severity{mxv1.Severity_SEVERITY_WARNING, mxv1.Severity_SEVERITY_ERROR, mxv1.Severity_SEVERITY_CRITICAL}).Draw(rt, "severity")
				next.Summary = fmt.Sprintf("edge02: keyless certificate (%d)", rapid.IntRange(0, 3).Draw(rt, "variant"))
				put(t, s, next)
			case 3: // engine: clean for long enough
				if !incident.Unresolved(cur) {
					continue
				}
				next.State, next.ResolvedAt = mxv1.IncidentState_INCIDENT_STATE_RESOLVED, now
				next.Timeline = append(next.Timeline, &mxv1.TimelineEntry{At: now, Kind: incident.KindResolved})
				put(t, s, next)
			case 4: // a person acknowledges
				if cur.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
					act(t, s, id, mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE)
				}
			case 5: // a person resolves
				if incident.Unresolved(cur) {
					act(t, s, id, mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
				}
			case 6: // a ticket is attached
				if _, _, err := s.UpdateIncidentRefs(ctx, &mxv1.UpdateIncidentRefs{IncidentId: id, Actor: "alice",
					ExternalRefs: map[string]string{"servicenow": fmt.Sprintf("INC%07d", rapid.IntRange(1, 3).Draw(rt, "ticket"))}}); err != nil {
					t.Fatal(err)
				}
			default: // notifications run now
				scan(rt)
			}
		}
		// Drain: everything enqueued is delivered.
		for range 50 {
			scan(rt)
			if len(s.State().Deliveries("", mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING)) == 0 {
				break
			}
		}
		if p := s.State().Deliveries("", mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING); len(p) > 0 {
			rt.Fatalf("%d deliveries still pending", len(p))
		}
		rm.mu.Lock()
		violations := rm.violations
		rm.mu.Unlock()
		if len(violations) > 0 {
			rt.Fatalf("requests outside the receivers' schemas: %v", violations)
		}
		if f := s.State().Deliveries("", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED); len(f) > 0 {
			rt.Fatalf("delivery failed: %v", f[0])
		}
		for _, id := range ids {
			inc := s.State().Incident(id)
			if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_PENDING {
				continue
			}
			if err := rm.check(inc, s.State().NotifyCursor(id) != nil); err != nil {
				rt.Fatalf("%s: %v\ntimeline: %v", id, err, inc.GetTimeline())
			}
		}
	})
}
