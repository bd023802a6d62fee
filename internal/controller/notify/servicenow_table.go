package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// ServiceNow Table API fallback (ServiceNowConfig.Mode "table"): for
// instances without Event Management, each notification upserts one record
// of the incident table by correlation_id (= the incident's fingerprint):
//
//	GET   /api/now/table/incident?sysparm_query=correlation_id=<fp>^active=true&sysparm_fields=sys_id,state&sysparm_limit=1
//	POST  /api/now/table/incident                (none found; not on resolve)
//	PATCH /api/now/table/incident/<sys_id>       (found)
//
// The Table API has no upsert, hence the lookup; both requests make one
// delivery attempt and its outcome is the last request's status (a 5xx or
// 429 on either is retried).

// Service modes of ServiceNowConfig.Mode.
const (
	ServiceNowModeEvent = "event"
	ServiceNowModeTable = "table"
)

// ServiceNowTablePath is the incident table.
const ServiceNowTablePath = "/api/now/table/incident"

// ServiceNow incident states the Table API target writes.
const (
	ServiceNowStateNew        = "1"
	ServiceNowStateInProgress = "2"
	ServiceNowStateResolved   = "6"
)

// ServiceNowDefaultCloseCode is close_code on resolve unless configured.
const ServiceNowDefaultCloseCode = "Solution provided"

// maxTableLookupBody bounds the lookup answer read.
const maxTableLookupBody = 1 << 20

// exchanger is a target whose delivery takes more than one request; it
// answers the deciding HTTP status and Retry-After like Sender.do, or
// status -1 when the delivery cannot be built (permanent).
type exchanger interface {
	Exchange(ctx context.Context, client *http.Client, ev *mxv1.NotificationEvent, now time.Time) (int, time.Duration, error)
}

type serviceNowTable struct {
	name, base, user, pass     string
	links                      linker
	closeCode, assignmentGroup string
}

func newServiceNowTable(c ServiceNowConfig, links linker) (*serviceNowTable, error) {
	if c.Name == "" {
		c.Name = "servicenow"
	}
	if c.CloseCode == "" {
		c.CloseCode = ServiceNowDefaultCloseCode
	}
	u, err := validURL("servicenow", c.URL)
	if err != nil {
		return nil, err
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("notify: servicenow: username and password are required")
	}
	return &serviceNowTable{name: c.Name, base: strings.TrimSuffix(u.String(), "/") + ServiceNowTablePath, user: c.Username, pass: c.Password,
		links: links, closeCode: c.CloseCode, assignmentGroup: c.AssignmentGroup}, nil
}

func (s *serviceNowTable) Name() string { return s.name }

// Request is not used: deliveries go through Exchange.
func (s *serviceNowTable) Request(context.Context, *mxv1.NotificationEvent, time.Time) (*http.Request, error) {
	return nil, errors.New("notify: servicenow table: deliveries take a lookup first (Exchange)")
}

// ServiceNowTableRecord is the body of the POST / PATCH (empty fields are
// left out, so a resolve only sets the state and close fields).
type ServiceNowTableRecord struct {
	ShortDescription   string `json:"short_description,omitempty"`
	Description        string `json:"description,omitempty"`
	Urgency            string `json:"urgency,omitempty"`
	Impact             string `json:"impact,omitempty"`
	AssignmentGroup    string `json:"assignment_group,omitempty"`
	CorrelationID      string `json:"correlation_id,omitempty"`
	CorrelationDisplay string `json:"correlation_display,omitempty"`
	State              string `json:"state,omitempty"`
	// WorkNotes records what changed that the fields do not show (external
	// references attached in mxprobe).
	WorkNotes  string `json:"work_notes,omitempty"`
	CloseCode  string `json:"close_code,omitempty"`
	CloseNotes string `json:"close_notes,omitempty"`
}

// serviceNowUrgency maps severity to urgency and impact ("1" high .. "3"
// low): CRITICAL 1/1 (priority 1), ERROR 2/2 (priority 3), else 3/3.
func serviceNowUrgency(s mxv1.Severity) string {
	switch s {
	case mxv1.Severity_SEVERITY_CRITICAL:
		return "1"
	case mxv1.Severity_SEVERITY_ERROR:
		return "2"
	default:
		return "3"
	}
}

// ServiceNowTableRecordFor builds the record for an event; found tells
// whether an active record exists and its current state.
func ServiceNowTableRecordFor(ev *mxv1.NotificationEvent, external, assignmentGroup, closeCode string, found bool, state string) ServiceNowTableRecord {
	return linker{external: external}.serviceNowTableRecord(ev, assignmentGroup, closeCode, found, state)
}

func (l linker) serviceNowTableRecord(ev *mxv1.NotificationEvent, assignmentGroup, closeCode string, found bool, state string) ServiceNowTableRecord {
	inc := ev.GetIncident()
	d := l.data(inc)
	if ev.GetType() == incident.EventResolved {
		notes := "Resolved by mxprobe: the findings cleared"
		if d.Summary != "" {
			notes += " (" + d.Summary + ")"
		}
		return ServiceNowTableRecord{State: ServiceNowStateResolved, CloseCode: closeCode, CloseNotes: notes + ". mxprobe incident " + d.ID + "."}
	}
	var desc strings.Builder
	desc.WriteString(d.Summary)
	for _, l := range [][2]string{
		{"Direction", d.DirectionDetail}, {"Fix", d.Remediation}, {"Hosts", strings.Join(d.Hosts, ", ")}, {"Sites", strings.Join(d.Sites, ", ")},
		{"Severity", d.Severity}, {"mxprobe incident", d.ID}, {"Link", d.URL},
	} {
		if l[1] != "" {
			fmt.Fprintf(&desc, "\n\n%s: %s", l[0], l[1])
		}
	}
	u := serviceNowUrgency(inc.GetSeverity())
	r := ServiceNowTableRecord{
		ShortDescription: truncate("mxprobe: "+d.Summary, 160), Description: desc.String(), Urgency: u, Impact: u,
		CorrelationID: ev.GetFingerprint(), CorrelationDisplay: truncate("mxprobe "+d.ID, 100),
	}
	if !found {
		r.AssignmentGroup = assignmentGroup
	}
	switch {
	case inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED:
		r.State = ServiceNowStateInProgress
	case found && state == ServiceNowStateResolved:
		// Reopened within the window: the same record becomes active work again.
		r.State = ServiceNowStateInProgress
	}
	if ev.GetRefsChanged() {
		r.WorkNotes = refsNote(inc)
	}
	return r
}

func (s *serviceNowTable) newRequest(ctx context.Context, method, u string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(s.user, s.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mxprobe-notify/1")
	return req, nil
}

// LookupURL is the GET that finds the active record of a fingerprint.
func (s *serviceNowTable) LookupURL(fingerprint string) string {
	q := url.Values{}
	q.Set("sysparm_query", "correlation_id="+fingerprint+"^active=true")
	q.Set("sysparm_fields", "sys_id,state")
	q.Set("sysparm_limit", "1")
	return s.base + "?" + q.Encode()
}

// Exchange looks the record up, then creates or updates it.
func (s *serviceNowTable) Exchange(ctx context.Context, client *http.Client, ev *mxv1.NotificationEvent, now time.Time) (int, time.Duration, error) {
	fp := ev.GetFingerprint()
	if fp == "" || strings.ContainsAny(fp, "^=&") {
		return -1, 0, fmt.Errorf("servicenow table: unusable fingerprint %q", fp)
	}
	req, err := s.newRequest(ctx, http.MethodGet, s.LookupURL(fp), nil)
	if err != nil {
		return -1, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxTableLookupBody))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), now), nil
	}
	if rerr != nil {
		return 0, 0, fmt.Errorf("servicenow table: lookup: %w", rerr)
	}
	sysID, state, err := parseTableLookup(b)
	switch {
	case errors.Is(err, errUnusableSysID):
		return -1, 0, err
	case err != nil:
		// A proxy's login page or a truncated answer: try again later.
		return 0, 0, err
	}
	rec := s.links.serviceNowTableRecord(ev, s.assignmentGroup, s.closeCode, sysID != "", state)
	switch {
	case sysID != "":
		req, err = s.newRequest(ctx, http.MethodPatch, s.base+"/"+sysID, rec)
	case ev.GetType() == incident.EventResolved:
		// Nothing active to resolve (closed by hand, or never created).
		return http.StatusOK, 0, nil
	default:
		req, err = s.newRequest(ctx, http.MethodPost, s.base, rec)
	}
	if err != nil {
		return -1, 0, err
	}
	resp, err = client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), now), nil
}

// refsNote is the work note for changed external references.
func refsNote(inc *mxv1.Incident) string {
	refs := inc.GetExternalRefs()
	if len(refs) == 0 {
		return "mxprobe: external references removed (mxprobe incident " + inc.GetId() + ")."
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(refs)) {
		parts = append(parts, k+" "+refs[k])
	}
	note := "mxprobe: external references now " + strings.Join(parts, ", ")
	if who := lastActor(inc, incident.KindExternalRefs); who != "" {
		note += " (set by " + who + ")"
	}
	return note + "."
}

// errUnusableSysID: the lookup named a record by an id that cannot go
// into a URL path as one segment.
var errUnusableSysID = errors.New("servicenow table: lookup answered an unusable sys_id")

// parseTableLookup reads the Table API's lookup answer: the first active
// record's sys_id and state ("" when none matched). A sys_id is one path
// segment of the PATCH that follows, so only letters, digits, '-' and '_'
// (ServiceNow's are 32 hex digits), at most 64 of them, are accepted.
func parseTableLookup(b []byte) (sysID, state string, err error) {
	var found struct {
		Result []struct {
			SysID string `json:"sys_id"`
			State string `json:"state"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &found); err != nil {
		return "", "", fmt.Errorf("servicenow table: lookup answer is not the Table API's JSON: %w", err)
	}
	if len(found.Result) == 0 {
		return "", "", nil
	}
	sysID, state = found.Result[0].SysID, found.Result[0].State
	if !validSysID(sysID) {
		return "", "", fmt.Errorf("%w: %q", errUnusableSysID, sysID)
	}
	return sysID, state, nil
}

func validSysID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
