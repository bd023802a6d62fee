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
	name, endpoint, user, pass, source, external string
}

// ServiceNowPath is the Event Management inbound endpoint.
const ServiceNowPath = "/api/global/em/jsonv2"

func newServiceNow(c ServiceNowConfig, external string) (*serviceNow, error) {
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
	return &serviceNow{name: c.Name, endpoint: endpoint, user: c.Username, pass: c.Password, source: c.Source, external: external}, nil
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

// serviceNowSeverity: "1" critical, "2" major, "3" minor, "4" warning, "5" OK.
func serviceNowSeverity(s mxv1.Severity) string {
	switch s {
	case mxv1.Severity_SEVERITY_CRITICAL:
		return "1"
	case mxv1.Severity_SEVERITY_ERROR:
		return "2"
	case mxv1.Severity_SEVERITY_WARNING:
		return "4"
	default:
		return "5"
	}
}

// ServiceNowTimeLayout is time_of_event's format (UTC).
const ServiceNowTimeLayout = "2006-01-02 15:04:05"

// ServiceNowEventFor builds the record for a notification; resolve clears ("0").
func ServiceNowEventFor(source string, ev *mxv1.NotificationEvent, external string) ServiceNowEvent {
	inc := ev.GetIncident()
	d := Data(inc, external)
	node := inc.GetRootCause().GetHost()
	if node == "" && len(inc.GetHosts()) > 0 {
		node = inc.GetHosts()[0]
	}
	if node == "" {
		node = inc.GetSubject()
	}
	sev := serviceNowSeverity(inc.GetSeverity())
	if ev.GetType() == TypeResolved {
		sev = "0"
	}
	info := map[string]string{
		"mxprobe_incident_id": d.ID, "mxprobe_event": ev.GetType(), "mxprobe_event_id": ev.GetId(),
		"mxprobe_sequence": strconv.FormatUint(d.Sequence, 10), "mxprobe_state": d.State, "mxprobe_severity": d.Severity,
		"mxprobe_scope": d.Scope, "mxprobe_direction": d.Direction, "mxprobe_direction_detail": d.DirectionDetail,
		"mxprobe_hosts": strings.Join(d.Hosts, ","), "mxprobe_sites": strings.Join(d.Sites, ","),
		"mxprobe_remediation": d.Remediation, "mxprobe_url": d.URL,
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
	return ServiceNowEvent{
		Source: source, EventClass: "mxprobe", Node: node, Resource: inc.GetSubject(), MetricName: inc.GetCause(),
		Type: "mxprobe " + strings.ToLower(d.Scope), Severity: sev, MessageKey: ev.GetFingerprint(), Description: desc,
		AdditionalInfo: string(ai), TimeOfEvent: ev.GetAt().AsTime().UTC().Format(ServiceNowTimeLayout),
	}
}

func (s *serviceNow) Request(ctx context.Context, ev *mxv1.NotificationEvent, _ time.Time) (*http.Request, error) {
	body, err := json.Marshal(ServiceNowEvents{Records: []ServiceNowEvent{ServiceNowEventFor(s.source, ev, s.external)}})
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
