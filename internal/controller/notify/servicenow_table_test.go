package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// fakeServiceNow is a real HTTP receiver that behaves like the incident
// table of the Table API and records every request.
type fakeServiceNow struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []snRequest
	recs map[string]map[string]string // sys_id -> fields
	// fail answers the n-th request (0-based) with a status instead.
	fail map[int]int
}

type snRequest struct {
	method, uri, user, pass, contentType string
	body                                 map[string]string
}

func newFakeServiceNow(t *testing.T) *fakeServiceNow {
	f := &fakeServiceNow{recs: map[string]map[string]string{}, fail: map[int]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := snRequest{method: r.Method, uri: r.RequestURI, contentType: r.Header.Get("Content-Type")}
		rec.user, rec.pass, _ = r.BasicAuth()
		if len(b) > 0 {
			if err := json.Unmarshal(b, &rec.body); err != nil {
				t.Errorf("body %s: %v", b, err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, rec)
		if code := f.fail[n]; code != 0 {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == ServiceNowTablePath:
			q := r.URL.Query().Get("sysparm_query")
			var out []map[string]string
			for id, rc := range f.recs {
				active := rc["state"] != "7" && rc["state"] != "8"
				if q == "correlation_id="+rc["correlation_id"]+"^active=true" && active {
					out = append(out, map[string]string{"sys_id": id, "state": rc["state"]})
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"result": out})
		case r.Method == http.MethodPost && r.URL.Path == ServiceNowTablePath:
			id := fmt.Sprintf("%032x", len(f.recs)+1)
			rc := map[string]string{"state": "1", "number": fmt.Sprintf("INC%07d", len(f.recs)+1)}
			for k, v := range rec.body {
				rc[k] = v
			}
			f.recs[id] = rc
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"sys_id": id, "number": rc["number"]}})
		case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, ServiceNowTablePath+"/"):
			rc := f.recs[strings.TrimPrefix(r.URL.Path, ServiceNowTablePath+"/")]
			if rc == nil {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			for k, v := range rec.body {
				rc[k] = v
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"result": rc})
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServiceNow) requests() []snRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]snRequest(nil), f.reqs...)
}

func (f *fakeServiceNow) record(id string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.recs[id] {
		out[k] = v
	}
	return out
}

func checkSN(t *testing.T, got snRequest, method, uri string, body map[string]string) {
	t.Helper()
	if got.method != method || got.uri != uri || got.user != "mxprobe.integration" || got.pass != "pa55" {
		t.Fatalf("request %s %s as %s, want %s %s", got.method, got.uri, got.user, method, uri)
	}
	if body == nil {
		if got.body != nil {
			t.Fatalf("%s %s: unexpected body %v", method, uri, got.body)
		}
		return
	}
	if got.contentType != "application/json" || fmt.Sprint(got.body) != fmt.Sprint(body) {
		t.Fatalf("%s %s body\n got %v\nwant %v", method, uri, got.body, body)
	}
}

// The Table API fallback upserts one incident record by correlation_id:
// lookup then POST, PATCH on acknowledge / update / resolve / reopen, with
// the exact requests a ServiceNow instance receives.
func TestServiceNowTableUpsert(t *testing.T) {
	s := openStore(t)
	sn := newFakeServiceNow(t)
	cfg := testConfig()
	cfg.ServiceNow = &ServiceNowConfig{URL: sn.srv.URL + "/", Username: "mxprobe.integration", Password: "pa55", Mode: "table", AssignmentGroup: "Messaging"}
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	fp := inc.GetFingerprint()
	lookup := ServiceNowTablePath + "?sysparm_fields=sys_id%2Cstate&sysparm_limit=1&sysparm_query=correlation_id%3D" + fp + "%5Eactive%3Dtrue"
	sysID := fmt.Sprintf("%032x", 1)
	desc := inc.GetSummary() + "\n\nFix: " + inc.GetRemediation() + "\n\nHosts: edge02.contoso.com\n\nSites: amsterdam\n\nSeverity: CRITICAL" +
		"\n\nmxprobe incident: " + inc.GetId() + "\n\nLink: https://mxprobe.contoso.com/incidents/" + inc.GetId()
	fields := map[string]string{
		"short_description": "mxprobe: " + inc.GetSummary(), "description": desc, "urgency": "1", "impact": "1",
		"correlation_id": fp, "correlation_display": "mxprobe " + inc.GetId(),
	}
	with := func(extra ...string) map[string]string {
		m := map[string]string{}
		for k, v := range fields {
			m[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}

	waitFor(t, "create", func() bool { return len(sn.requests()) == 2 })
	reqs := sn.requests()
	checkSN(t, reqs[0], "GET", lookup, nil)
	checkSN(t, reqs[1], "POST", ServiceNowTablePath, with("assignment_group", "Messaging"))

	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE)
	waitFor(t, "acknowledge", func() bool { return len(sn.requests()) == 4 })
	reqs = sn.requests()
	checkSN(t, reqs[2], "GET", lookup, nil)
	checkSN(t, reqs[3], "PATCH", ServiceNowTablePath+"/"+sysID, with("state", "2"))

	// A visible change (severity) updates the same record.
	cur := proto.CloneOf(s.State().Incident(inc.GetId()))
	cur.Severity = mxv1.Severity_SEVERITY_ERROR
	cur.Timeline = nil
	put(t, s, cur)
	waitFor(t, "update", func() bool { return len(sn.requests()) == 6 })
	reqs = sn.requests()
	checkSN(t, reqs[4], "GET", lookup, nil)
	// Still acknowledged: the record stays In Progress.
	upd := with("urgency", "2", "impact", "2", "state", "2")
	upd["description"] = strings.Replace(desc, "Severity: CRITICAL", "Severity: ERROR", 1)
	checkSN(t, reqs[5], "PATCH", ServiceNowTablePath+"/"+sysID, upd)

	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "resolve", func() bool { return len(sn.requests()) == 8 })
	reqs = sn.requests()
	checkSN(t, reqs[6], "GET", lookup, nil)
	checkSN(t, reqs[7], "PATCH", ServiceNowTablePath+"/"+sysID, map[string]string{"state": "6", "close_code": ServiceNowDefaultCloseCode,
		"close_notes": "Resolved by mxprobe: the findings cleared (" + inc.GetSummary() + "). mxprobe incident " + inc.GetId() + "."})
	if rec := sn.record(sysID); rec["state"] != "6" || rec["correlation_id"] != fp || rec["urgency"] != "2" {
		t.Fatalf("record after resolve %v", rec)
	}

	// Reopened: the resolved (still active) record is worked on again.
	cur = proto.CloneOf(s.State().Incident(inc.GetId()))
	cur.State, cur.ResolvedAt, cur.Timeline = mxv1.IncidentState_INCIDENT_STATE_OPEN, nil, nil
	put(t, s, cur)
	waitFor(t, "reopen", func() bool { return len(sn.requests()) == 10 })
	reqs = sn.requests()
	checkSN(t, reqs[8], "GET", lookup, nil)
	checkSN(t, reqs[9], "PATCH", ServiceNowTablePath+"/"+sysID, with("urgency", "2", "impact", "2", "description", upd["description"], "state", "2"))
	sn.mu.Lock()
	n := len(sn.recs)
	sn.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d records, want 1 (upsert)", n)
	}
}

// A 503 on the lookup is retried; a 400 is final (FAILED);
// a resolve without an active record sends nothing after the lookup.
func TestServiceNowTableRetriesAndFailures(t *testing.T) {
	s := openStore(t)
	sn := newFakeServiceNow(t)
	sn.fail[0] = http.StatusServiceUnavailable
	sn.fail[3] = http.StatusBadRequest
	cfg := testConfig()
	cfg.ServiceNow = &ServiceNowConfig{URL: sn.srv.URL, Username: "mxprobe.integration", Password: "pa55", Mode: "TABLE"}
	runSender(t, s, cfg)
	inc := put(t, s, testIncident())
	waitFor(t, "retried create", func() bool { return len(sn.requests()) == 3 })
	reqs := sn.requests()
	if reqs[0].method != "GET" || reqs[1].method != "GET" || reqs[2].method != "POST" || reqs[2].body["assignment_group"] != "" {
		t.Fatalf("requests %+v", reqs)
	}
	// The acknowledgement's lookup answers 400: no retry, FAILED.
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE)
	waitFor(t, "failed", func() bool {
		for _, d := range s.State().Deliveries("servicenow", mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED) {
			return d.GetLastHttpStatus() == http.StatusBadRequest
		}
		return false
	})
	if n := len(sn.requests()); n != 4 {
		t.Fatalf("%d requests, want 4 (no retry on 400)", n)
	}
	// Closed by hand in ServiceNow: the resolve finds nothing and stops.
	sn.mu.Lock()
	for _, rc := range sn.recs {
		rc["state"] = "7"
	}
	sn.mu.Unlock()
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "resolve delivered", func() bool {
		return len(s.State().Deliveries("servicenow", mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED)) == 2
	})
	reqs = sn.requests()
	if len(reqs) != 5 || reqs[4].method != "GET" {
		t.Fatalf("resolve without an active record: %+v", reqs[4:])
	}
	if _, err := (Config{ServiceNow: &ServiceNowConfig{URL: "https://x.service-now.com", Username: "u", Password: "p", Mode: "rest"}}).Targets(); err == nil {
		t.Fatal("unknown mode accepted")
	}
}
