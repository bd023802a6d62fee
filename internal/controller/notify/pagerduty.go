package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// DefaultPagerDutyURL is the Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDutyConfig is a PagerDuty Events API v2 integration.
type PagerDutyConfig struct {
	Name string // default "pagerduty"
	URL  string // default DefaultPagerDutyURL
	// RoutingKey is the integration key of the service. Never logged.
	RoutingKey string
}

type pagerDuty struct {
	name, url, key, external string
}

func newPagerDuty(c PagerDutyConfig, external string) (*pagerDuty, error) {
	if c.Name == "" {
		c.Name = "pagerduty"
	}
	if c.URL == "" {
		c.URL = DefaultPagerDutyURL
	}
	if _, err := validURL("pagerduty", c.URL); err != nil {
		return nil, err
	}
	if c.RoutingKey == "" {
		return nil, fmt.Errorf("notify: pagerduty: routing_key is required")
	}
	return &pagerDuty{name: c.Name, url: c.URL, key: c.RoutingKey, external: external}, nil
}

func (p *pagerDuty) Name() string { return p.name }

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []PagerDutyLink   `json:"links,omitempty"`
}

// PagerDutyPayload is the trigger payload.
type PagerDutyPayload struct {
	Summary       string       `json:"summary"`
	Source        string       `json:"source"`
	Severity      string       `json:"severity"`
	Timestamp     string       `json:"timestamp,omitempty"`
	Component     string       `json:"component,omitempty"`
	Group         string       `json:"group,omitempty"`
	Class         string       `json:"class,omitempty"`
	CustomDetails IncidentData `json:"custom_details"`
}

// PagerDutyLink is a link shown on the PagerDuty incident.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pagerDutySeverity maps mxprobe severities.
func pagerDutySeverity(s mxv1.Severity) string {
	switch s {
	case mxv1.Severity_SEVERITY_CRITICAL:
		return "critical"
	case mxv1.Severity_SEVERITY_ERROR:
		return "error"
	case mxv1.Severity_SEVERITY_WARNING:
		return "warning"
	default:
		return "info"
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// PagerDutyEventFor builds the event for a notification.
func PagerDutyEventFor(routingKey string, ev *mxv1.NotificationEvent, external string) PagerDutyEvent {
	inc := ev.GetIncident()
	out := PagerDutyEvent{RoutingKey: routingKey, DedupKey: ev.GetFingerprint()}
	switch ev.GetType() {
	case TypeAcknowledged:
		out.EventAction = "acknowledge"
		return out
	case TypeResolved:
		out.EventAction = "resolve"
		return out
	}
	out.EventAction = "trigger"
	source := "mxprobe"
	if h := inc.GetRootCause().GetHost(); h != "" {
		source = h
	} else if len(inc.GetHosts()) > 0 {
		source = inc.GetHosts()[0]
	}
	group := inc.GetRootCause().GetSite()
	if group == "" && len(inc.GetSites()) > 0 {
		group = inc.GetSites()[0]
	}
	out.Payload = &PagerDutyPayload{
		Summary: truncate(inc.GetSummary(), 1024), Source: source, Severity: pagerDutySeverity(inc.GetSeverity()),
		Timestamp: ev.GetAt().AsTime().UTC().Format(time.RFC3339), Component: inc.GetSubject(), Group: group, Class: inc.GetCause(),
		CustomDetails: Data(inc, external),
	}
	out.Client = "mxprobe"
	if u := incidentURL(external, inc.GetId()); u != "" {
		out.ClientURL = u
		out.Links = []PagerDutyLink{{Href: u, Text: "mxprobe incident " + inc.GetId()}}
	}
	return out
}

func (p *pagerDuty) Request(ctx context.Context, ev *mxv1.NotificationEvent, _ time.Time) (*http.Request, error) {
	body, err := json.Marshal(PagerDutyEventFor(p.key, ev, p.external))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mxprobe-notify/1")
	return req, nil
}
