package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
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
	name, url, key string
	links          linker
}

func newPagerDuty(c PagerDutyConfig, links linker) (*pagerDuty, error) {
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
	return &pagerDuty{name: c.Name, url: c.URL, key: c.RoutingKey, links: links}, nil
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

// PagerDuty event actions.
const (
	PagerDutyTrigger     = "trigger"
	PagerDutyAcknowledge = "acknowledge"
	PagerDutyResolve     = "resolve"
)

// PagerDutyActions are the event actions that bring PagerDuty's alert to
// the incident's state, in order:
//
//   - resolved: resolve;
//   - acknowledged: acknowledge;
//   - opened: trigger, preceded by resolve when PagerDuty last heard
//     "acknowledged" (a trigger would only be deduplicated into the
//     acknowledged alert: the incident resolved and reopened in between),
//     followed by acknowledge when the incident is already ACKNOWLEDGED (it
//     was acknowledged before PagerDuty heard of it);
//   - updated: trigger (deduplicated into the open alert; its state stays).
func PagerDutyActions(ev *mxv1.NotificationEvent) []string {
	switch ev.GetType() {
	case incident.EventResolved:
		return []string{PagerDutyResolve}
	case incident.EventAcknowledged:
		return []string{PagerDutyAcknowledge}
	case incident.EventOpened:
		var out []string
		if ev.GetPreviousState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			out = append(out, PagerDutyResolve)
		}
		out = append(out, PagerDutyTrigger)
		if ev.GetIncident().GetState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			out = append(out, PagerDutyAcknowledge)
		}
		return out
	}
	return []string{PagerDutyTrigger}
}

// PagerDutyEventFor builds the event of one action for a notification.
func PagerDutyEventFor(routingKey, action string, ev *mxv1.NotificationEvent, external string) PagerDutyEvent {
	return linker{external: external}.pagerDutyEvent(routingKey, action, ev)
}

func (l linker) pagerDutyEvent(routingKey, action string, ev *mxv1.NotificationEvent) PagerDutyEvent {
	inc := ev.GetIncident()
	out := PagerDutyEvent{RoutingKey: routingKey, DedupKey: ev.GetFingerprint(), EventAction: action}
	if action != PagerDutyTrigger {
		return out
	}
	group := inc.GetRootCause().GetSite()
	if group == "" && len(inc.GetSites()) > 0 {
		group = inc.GetSites()[0]
	}
	out.Payload = &PagerDutyPayload{
		Summary: truncate(inc.GetSummary(), 1024), Source: AffectedSystem(inc), Severity: pagerDutySeverity(inc.GetSeverity()),
		Timestamp: ev.GetAt().AsTime().UTC().Format(time.RFC3339), Component: inc.GetSubject(), Group: group, Class: inc.GetCause(),
		CustomDetails: l.data(inc),
	}
	out.Client = "mxprobe"
	if u := l.Page(inc.GetId()); u != "" {
		out.ClientURL = u
		out.Links = []PagerDutyLink{{Href: u, Text: "mxprobe incident " + inc.GetId()}}
	}
	if u := l.Runbook(inc.GetCause()); u != "" {
		out.Links = append(out.Links, PagerDutyLink{Href: u, Text: "Runbook: " + inc.GetCause()})
	}
	return out
}

func (p *pagerDuty) request(ctx context.Context, action string, ev *mxv1.NotificationEvent) (*http.Request, error) {
	body, err := json.Marshal(p.links.pagerDutyEvent(p.key, action, ev))
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

// Request builds the request of the last action (Exchange sends them all).
func (p *pagerDuty) Request(ctx context.Context, ev *mxv1.NotificationEvent, _ time.Time) (*http.Request, error) {
	acts := PagerDutyActions(ev)
	return p.request(ctx, acts[len(acts)-1], ev)
}

// Exchange sends the event's actions in order; the first answer that is
// not 2xx decides the attempt (a retry resends them all: PagerDuty
// deduplicates by dedup_key, so a repeated action changes nothing).
func (p *pagerDuty) Exchange(ctx context.Context, client *http.Client, ev *mxv1.NotificationEvent, now time.Time) (int, time.Duration, error) {
	status := 0
	for _, a := range PagerDutyActions(ev) {
		req, err := p.request(ctx, a, ev)
		if err != nil {
			return -1, 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		status = resp.StatusCode
		if status < 200 || status > 299 {
			return status, retryAfter(resp.Header.Get("Retry-After"), now), nil
		}
	}
	return status, 0, nil
}
