package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// ServiceNowConfig is a ServiceNow Event Management integration.
type ServiceNowConfig struct {
	Name string // default "servicenow"
	// URL is the instance, e.g. https://acme.service-now.com.
	URL      string
	Username string
	// Password of Username (basic auth). Never logged.
	Password string
	// Source is the event's source field (default "mxprobe").
	Source string
	// Mode is "event" (default: Event Management, /api/global/em/jsonv2) or
	// "table" (Table API fallback: upsert of incident records by
	// correlation_id, servicenow_table.go).
	Mode string
	// CloseCode is close_code when a table record is resolved (default
	// "Solution provided"); AssignmentGroup, when set, is assignment_group
	// of created records (name or sys_id). Table mode only.
	CloseCode, AssignmentGroup string
}

type serviceNow struct {
	name, endpoint, user, pass, source string
	links                              linker
}

// ServiceNowPath is the Event Management inbound endpoint.
const ServiceNowPath = "/api/global/em/jsonv2"

func newServiceNow(c ServiceNowConfig, links linker) (*serviceNow, error) {
	if c.Name == "" {
		c.Name = "servicenow"
	}
	if c.Source == "" {
		c.Source = "mxprobe"
	}
	u, err := validURL("servicenow", c.URL)
	if err != nil {
		return nil, err
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("notify: servicenow: username and password are required")
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + ServiceNowPath
	return &serviceNow{name: c.Name, endpoint: endpoint, user: c.Username, pass: c.Password, source: c.Source, links: links}, nil
}

func (s *serviceNow) Name() string { return s.name }

// ServiceNowEvents is the jsonv2 body.
type ServiceNowEvents struct {
	Records []ServiceNowEvent `json:"records"`
}

// ServiceNowEvent is one em_event record.
type ServiceNowEvent struct {
	Source         string `json:"source"`
	EventClass     string `json:"event_class"`
	Node           string `json:"node"`
	Resource       string `json:"resource"`
	MetricName     string `json:"metric_name"`
	Type           string `json:"type"`
	Severity       string `json:"severity"`
	MessageKey     string `json:"message_key"`
	Description    string `json:"description"`
	AdditionalInfo string `json:"additional_info"`
	TimeOfEvent    string `json:"time_of_event"`
}

// ServiceNow event severities (em_event.severity, as ServiceNow documents
// them): "1" Critical .. "4" Warning, "5" Info (shown as OK in older
// releases: it never closes an alert), "0" Clear (closes the alert).
const (
	ServiceNowCritical = "1"
	ServiceNowMajor    = "2"
	ServiceNowMinor    = "3"
	ServiceNowWarning  = "4"
	ServiceNowInfo     = "5"
	ServiceNowClear    = "0"
)

// serviceNowSeverity maps an open incident's severity: CRITICAL Critical,
// ERROR Major, WARNING Warning, INFO (and unset) Info. Never Clear: only a
// resolve clears.
func serviceNowSeverity(s mxv1.Severity) string {
	switch s {
	case mxv1.Severity_SEVERITY_CRITICAL:
		return ServiceNowCritical
	case mxv1.Severity_SEVERITY_ERROR:
		return ServiceNowMajor
	case mxv1.Severity_SEVERITY_WARNING:
		return ServiceNowWarning
	default:
		return ServiceNowInfo
	}
}

// ServiceNowTimeLayout is time_of_event's format (UTC).
const ServiceNowTimeLayout = "2006-01-02 15:04:05"

// ServiceNowEventFor builds the record for a notification: node is the
// affected system (CMDB binding), resolve clears ("0"), acknowledge keeps
// the alert open at its severity and records who took it in
// additional_info (an em_event cannot acknowledge the alert itself: that is
// ServiceNow's own operators' action).
func ServiceNowEventFor(source string, ev *mxv1.NotificationEvent, external string) ServiceNowEvent {
	return linker{external: external}.serviceNowEvent(source, ev)
}

func (l linker) serviceNowEvent(source string, ev *mxv1.NotificationEvent) ServiceNowEvent {
	inc := ev.GetIncident()
	d := l.data(inc)
	sev := serviceNowSeverity(inc.GetSeverity())
	if ev.GetType() == incident.EventResolved || inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		sev = ServiceNowClear
	}
	info := map[string]string{
		"mxprobe_incident_id": d.ID, "mxprobe_event": ev.GetType(), "mxprobe_event_id": ev.GetId(),
		"mxprobe_sequence": strconv.FormatUint(d.Sequence, 10), "mxprobe_state": d.State, "mxprobe_severity": d.Severity,
		"mxprobe_scope": d.Scope, "mxprobe_direction": d.Direction, "mxprobe_direction_detail": d.DirectionDetail,
		"mxprobe_hosts": strings.Join(d.Hosts, ","), "mxprobe_sites": strings.Join(d.Sites, ","), "mxprobe_observers": strings.Join(d.Agents, ","),
		"mxprobe_remediation": d.Remediation, "mxprobe_url": d.URL, "mxprobe_api_url": d.APIURL, "mxprobe_runbook_url": d.RunbookURL,
		"mxprobe_external_refs": refsText(inc.GetExternalRefs()),
	}
	if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
		info["mxprobe_acknowledged_by"] = lastActor(inc, incident.KindAcknowledged)
	}
	for k, v := range info {
		if v == "" {
			delete(info, k)
		}
	}
	ai, _ := json.Marshal(info) // map[string]string: keys sorted, cannot fail
	desc := d.Summary
	if d.Remediation != "" {
		desc += "\n\nFix: " + d.Remediation
	}
	if d.URL != "" {
		desc += "\n\n" + d.URL
	}
	return ServiceNowEvent{
		Source: source, EventClass: "mxprobe", Node: d.AffectedSystem, Resource: inc.GetSubject(), MetricName: inc.GetCause(),
		Type: "mxprobe " + strings.ToLower(d.Scope), Severity: sev, MessageKey: ev.GetFingerprint(), Description: desc,
		AdditionalInfo: string(ai), TimeOfEvent: ev.GetAt().AsTime().UTC().Format(ServiceNowTimeLayout),
	}
}

// lastActor is who made the newest timeline entry of a kind ("" if none).
func lastActor(inc *mxv1.Incident, kind string) string {
	tl := inc.GetTimeline()
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].GetKind() == kind {
			return tl[i].GetActor()
		}
	}
	return ""
}

func (s *serviceNow) Request(ctx context.Context, ev *mxv1.NotificationEvent, _ time.Time) (*http.Request, error) {
	body, err := json.Marshal(ServiceNowEvents{Records: []ServiceNowEvent{s.links.serviceNowEvent(s.source, ev)}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(s.user, s.pass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mxprobe-notify/1")
	return req, nil
}
