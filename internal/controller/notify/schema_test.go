package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// The receivers that do not run here are checked against their documented
// request schemas, field by field: the PagerDuty Events API v2 enqueue body,
// ServiceNow Event Management's jsonv2 em_event records and the incident
// table's fields. The property test's receivers apply the same checks to
// every request of its random histories (a violation answers 400, which
// fails the delivery and the test).

// schemaErrs collects violations.
type schemaErrs []string

func (e *schemaErrs) add(format string, a ...any) { *e = append(*e, fmt.Sprintf(format, a...)) }

func (e schemaErrs) err() error {
	if len(e) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(e, "; "))
}

// fields decodes a JSON object and refuses keys outside known (a typo'd
// field is silently ignored by the receiver, so it must fail here).
func fields(e *schemaErrs, what string, raw json.RawMessage, known ...string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		e.add("%s: not a JSON object: %v", what, err)
		return nil
	}
	for k := range m {
		if !slices.Contains(known, k) {
			e.add("%s: unknown field %q", what, k)
		}
	}
	return m
}

// str is a string field ("" when absent); a present non-string is a violation.
func str(e *schemaErrs, what string, m map[string]json.RawMessage, key string) string {
	raw, ok := m[key]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		e.add("%s.%s: not a string: %s", what, key, raw)
	}
	return s
}

func maxLen(e *schemaErrs, what, v string, n int) {
	if c := utf8.RuneCountInString(v); c > n {
		e.add("%s: %d characters, at most %d", what, c, n)
	}
}

func absURL(e *schemaErrs, what, v string) {
	if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		e.add("%s: %q is not an absolute http(s) URL", what, v)
	}
}

// pagerDutySchema checks an Events API v2 enqueue body: routing_key and
// event_action (trigger | acknowledge | resolve) required; dedup_key at most
// 255 characters, required unless triggering; a trigger's payload with
// summary (at most 1024 characters), source and severity (critical | error |
// warning | info) required, timestamp ISO 8601, custom_details an object;
// links with href (a URL); the whole event at most 512 KB.
func pagerDutySchema(body []byte) error {
	var e schemaErrs
	if len(body) > 512<<10 {
		e.add("event of %d bytes, at most 512 KB", len(body))
	}
	m := fields(&e, "event", body, "routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links", "images")
	if m == nil {
		return e.err()
	}
	if str(&e, "event", m, "routing_key") == "" {
		e.add("routing_key: required")
	}
	action := str(&e, "event", m, "event_action")
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, action) {
		e.add("event_action: %q is not trigger, acknowledge or resolve", action)
	}
	dk := str(&e, "event", m, "dedup_key")
	maxLen(&e, "dedup_key", dk, 255)
	if dk == "" && action != "trigger" {
		e.add("dedup_key: required for %s", action)
	}
	if u := str(&e, "event", m, "client_url"); u != "" {
		absURL(&e, "client_url", u)
	}
	if raw, ok := m["links"]; ok {
		var links []json.RawMessage
		if err := json.Unmarshal(raw, &links); err != nil {
			e.add("links: not an array")
		}
		for i, l := range links {
			lm := fields(&e, fmt.Sprintf("links[%d]", i), l, "href", "text")
			absURL(&e, fmt.Sprintf("links[%d].href", i), str(&e, "link", lm, "href"))
		}
	}
	raw, ok := m["payload"]
	if action == "trigger" && !ok {
		e.add("payload: required for trigger")
	}
	if ok {
		p := fields(&e, "payload", raw, "summary", "timestamp", "severity", "source", "component", "group", "class", "custom_details")
		sum := str(&e, "payload", p, "summary")
		if sum == "" {
			e.add("payload.summary: required")
		}
		maxLen(&e, "payload.summary", sum, 1024)
		if str(&e, "payload", p, "source") == "" {
			e.add("payload.source: required")
		}
		if sev := str(&e, "payload", p, "severity"); !slices.Contains([]string{"critical", "error", "warning", "info"}, sev) {
			e.add("payload.severity: %q is not critical, error, warning or info", sev)
		}
		if ts := str(&e, "payload", p, "timestamp"); ts != "" {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				e.add("payload.timestamp: %q is not ISO 8601: %v", ts, err)
			}
		}
		if cd, ok := p["custom_details"]; ok {
			var obj map[string]any
			if json.Unmarshal(cd, &obj) != nil {
				e.add("payload.custom_details: not an object")
			}
		}
	}
	return e.err()
}

// serviceNowEventSchema checks a jsonv2 body: {"records": [em_event...]};
// each record's source, node and message_key set (node binds the alert to a
// CI), severity a string "0" (Clear) .. "5" (Info), time_of_event
// "yyyy-MM-dd HH:mm:ss" in UTC, additional_info a JSON object in a string.
func serviceNowEventSchema(body []byte) error {
	var e schemaErrs
	m := fields(&e, "body", body, "records")
	var recs []json.RawMessage
	if m != nil {
		if err := json.Unmarshal(m["records"], &recs); err != nil || len(recs) == 0 {
			e.add("records: a non-empty array required")
		}
	}
	for i, raw := range recs {
		what := fmt.Sprintf("records[%d]", i)
		r := fields(&e, what, raw, "source", "event_class", "node", "resource", "metric_name", "type", "severity", "message_key",
			"description", "additional_info", "time_of_event")
		for _, k := range []string{"source", "node", "message_key", "severity"} {
			if str(&e, what, r, k) == "" {
				e.add("%s.%s: required", what, k)
			}
		}
		if sev, err := strconv.Atoi(str(&e, what, r, "severity")); err != nil || sev < 0 || sev > 5 {
			e.add("%s.severity: %s is not 0..5", what, r["severity"])
		}
		if ts := str(&e, what, r, "time_of_event"); ts != "" {
			if _, err := time.Parse(ServiceNowTimeLayout, ts); err != nil {
				e.add("%s.time_of_event: %q is not yyyy-MM-dd HH:mm:ss", what, ts)
			}
		}
		if ai := str(&e, what, r, "additional_info"); ai != "" {
			var obj map[string]any
			if json.Unmarshal([]byte(ai), &obj) != nil {
				e.add("%s.additional_info: not a JSON object in a string", what)
			}
		}
	}
	return e.err()
}

// serviceNowTableSchema checks a POST/PATCH body of the incident table:
// known columns only, short_description at most 160 characters,
// correlation_id and correlation_display at most 100, urgency and impact
// 1..3, state one of New 1, In Progress 2, On Hold 3, Resolved 6, Closed 7,
// Canceled 8, and a resolve carrying close_code and close_notes (mandatory
// when resolving in the default incident form).
func serviceNowTableSchema(body []byte) error {
	var e schemaErrs
	r := fields(&e, "record", body, "short_description", "description", "urgency", "impact", "assignment_group", "correlation_id",
		"correlation_display", "state", "work_notes", "close_code", "close_notes")
	if r == nil {
		return e.err()
	}
	maxLen(&e, "short_description", str(&e, "record", r, "short_description"), 160)
	maxLen(&e, "correlation_id", str(&e, "record", r, "correlation_id"), 100)
	maxLen(&e, "correlation_display", str(&e, "record", r, "correlation_display"), 100)
	for _, k := range []string{"urgency", "impact"} {
		if v := str(&e, "record", r, k); v != "" && !slices.Contains([]string{"1", "2", "3"}, v) {
			e.add("%s: %q is not 1..3", k, v)
		}
	}
	st := str(&e, "record", r, "state")
	if st != "" && !slices.Contains([]string{"1", "2", "3", "6", "7", "8"}, st) {
		e.add("state: %q is not an incident state", st)
	}
	if st == ServiceNowStateResolved && (str(&e, "record", r, "close_code") == "" || str(&e, "record", r, "close_notes") == "") {
		e.add("state 6 (Resolved) without close_code and close_notes")
	}
	return e.err()
}

// Every event type of every scope, at every severity, with a summary past
// PagerDuty's limit and a ticket change, builds requests within the
// documented schemas; and the validators do catch what they check.
func TestPayloadsWithinDocumentedSchemas(t *testing.T) {
	scopes := []*mxv1.Incident{testIncident(), remoteIncident(),
		{Id: "inc-site", Fingerprint: strings.Repeat("a", 64), Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SITE, Subject: "amsterdam", Cause: "SMTP_STARTTLS_NOT_OFFERED",
			Summary: "Site amsterdam: every agent fails STARTTLS", Sites: []string{"amsterdam"}},
		{Id: "inc-cert", Fingerprint: strings.Repeat("b", 64), Scope: mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, Subject: "<I>CN=Contoso CA<S>CN=mail.contoso.com",
			Cause: "CERT_EXPIRED", Summary: strings.Repeat("Certificate mail.contoso.com expired ", 40), Hosts: []string{"edge01", "edge02"}},
	}
	l := linker{external: "https://mxprobe.contoso.com", runbook: "https://wiki.contoso.com/mail/{code}"}
	types := []string{incident.EventOpened, incident.EventUpdated, incident.EventAcknowledged, incident.EventResolved}
	for _, base := range scopes {
		for sev := range mxv1.Severity_name {
			for _, typ := range types {
				inc := proto.CloneOf(base)
				inc.Severity = mxv1.Severity(sev)
				inc.State = map[string]mxv1.IncidentState{incident.EventOpened: mxv1.IncidentState_INCIDENT_STATE_OPEN, incident.EventUpdated: mxv1.IncidentState_INCIDENT_STATE_OPEN,
					incident.EventAcknowledged: mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED, incident.EventResolved: mxv1.IncidentState_INCIDENT_STATE_RESOLVED}[typ]
				inc.ExternalRefs = map[string]string{"servicenow": "INC0012345"}
				ev := &mxv1.NotificationEvent{Id: EventID(inc.GetId(), 3), Type: typ, IncidentId: inc.GetId(), Fingerprint: inc.GetFingerprint(), Sequence: 3,
					At: testIncident().GetUpdatedAt(), Incident: inc, PreviousState: mxv1.IncidentState_INCIDENT_STATE_OPEN, RefsChanged: typ == incident.EventUpdated}
				name := fmt.Sprintf("%s %v %s", inc.GetScope(), inc.GetSeverity(), typ)
				for _, a := range PagerDutyActions(ev) {
					b, _ := json.Marshal(l.pagerDutyEvent("R0UT1NGKEY", a, ev))
					if err := pagerDutySchema(b); err != nil {
						t.Errorf("%s: PagerDuty %s: %v\n%s", name, a, err, b)
					}
				}
				b, _ := json.Marshal(ServiceNowEvents{Records: []ServiceNowEvent{l.serviceNowEvent("mxprobe", ev)}})
				if err := serviceNowEventSchema(b); err != nil {
					t.Errorf("%s: ServiceNow event: %v\n%s", name, err, b)
				}
				for _, found := range []bool{false, true} {
					b, _ := json.Marshal(l.serviceNowTableRecord(ev, "Messaging", ServiceNowDefaultCloseCode, found, ServiceNowStateInProgress))
					if err := serviceNowTableSchema(b); err != nil {
						t.Errorf("%s: ServiceNow table record (found %v): %v\n%s", name, found, err, b)
					}
				}
			}
		}
	}
	for _, bad := range []struct {
		check func([]byte) error
		body  string
	}{
		{pagerDutySchema, `{"routing_key":"R","event_action":"trigger","dedup_key":"d"}`},
		{pagerDutySchema, `{"routing_key":"R","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"high"}}`},
		{pagerDutySchema, `{"routing_key":"R","event_action":"resolve"}`},
		{pagerDutySchema, `{"routing_key":"R","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"2026-11-25 13:00"}}`},
		{pagerDutySchema, `{"routing_key":"R","event_action":"ack","dedup_key":"d","dedupkey":"d"}`},
		{serviceNowEventSchema, `{"records":[{"source":"mxprobe","node":"h","message_key":"k","severity":"6"}]}`},
		{serviceNowEventSchema, `{"records":[{"source":"mxprobe","node":"","message_key":"k","severity":"1"}]}`},
		{serviceNowEventSchema, `{"records":[{"source":"mxprobe","node":"h","message_key":"k","severity":"1","additional_info":{"a":"b"}}]}`},
		{serviceNowTableSchema, `{"state":"6"}`},
		{serviceNowTableSchema, `{"short_description":"` + strings.Repeat("x", 161) + `"}`},
	} {
		if bad.check([]byte(bad.body)) == nil {
			t.Errorf("accepted %s", bad.body)
		}
	}
}
