package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// AlertmanagerConfig is an Alertmanager to post alerts to.
type AlertmanagerConfig struct {
	Name string // default "alertmanager"
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093.
	URL string
	// ResendInterval re-posts active incidents (default 60s; Alertmanager
	// resolves an alert resolve_timeout after its last post).
	ResendInterval time.Duration
}

type alertmanager struct {
	name, endpoint, external string
	resend                   time.Duration
}

// AlertmanagerPath is the alerts endpoint.
const AlertmanagerPath = "/api/v2/alerts"

func newAlertmanager(c AlertmanagerConfig, external string) (*alertmanager, error) {
	if c.Name == "" {
		c.Name = "alertmanager"
	}
	if c.ResendInterval <= 0 {
		c.ResendInterval = 60 * time.Second
	}
	u, err := validURL("alertmanager", c.URL)
	if err != nil {
		return nil, err
	}
	return &alertmanager{name: c.Name, endpoint: strings.TrimSuffix(u.String(), "/") + AlertmanagerPath, external: external, resend: c.ResendInterval}, nil
}

func (a *alertmanager) Name() string                  { return a.name }
func (a *alertmanager) ResendInterval() time.Duration { return a.resend }

// Alert is one Alertmanager v2 postable alert.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// RunbookBase links finding codes to their documentation.
const RunbookBase = "https://github.com/mxprobe/mxprobe/blob/main/docs/findings.md#"

// AlertFor builds the alert of an incident; resolved incidents carry
// endsAt (their resolution time, else now).
func AlertFor(inc *mxv1.Incident, external string, now time.Time) Alert {
	d := Data(inc, external)
	labels := map[string]string{
		"alertname": "MxprobeIncident", "severity": strings.ToLower(d.Severity), "cause": d.Cause, "scope": strings.ToLower(d.Scope),
		"incident_id": d.ID, "fingerprint": d.Fingerprint, "source": "mxprobe",
	}
	if len(d.Sites) == 1 {
		labels["site"] = d.Sites[0]
	}
	if h := inc.GetRootCause().GetHost(); h != "" {
		labels["host"] = h
	}
	desc := d.Summary
	if d.DirectionDetail != "" {
		desc += "\n" + d.DirectionDetail
	}
	if d.Remediation != "" {
		desc += "\nFix: " + d.Remediation
	}
	a := Alert{
		Labels:       labels,
		Annotations:  map[string]string{"summary": d.Summary, "description": desc, "runbook_url": RunbookBase + strings.ToLower(d.Cause), "subject": d.Subject},
		StartsAt:     now.UTC(),
		GeneratorURL: d.URL,
	}
	if d.OpenedAt != nil {
		a.StartsAt = *d.OpenedAt
	} else if d.FirstSeen != nil {
		a.StartsAt = *d.FirstSeen
	}
	if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		end := now.UTC()
		if d.ResolvedAt != nil {
			end = *d.ResolvedAt
		}
		a.EndsAt = &end
	}
	return a
}

func (a *alertmanager) post(ctx context.Context, alerts []Alert) (*http.Request, error) {
	body, err := json.Marshal(alerts)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mxprobe-notify/1")
	return req, nil
}

func (a *alertmanager) Request(ctx context.Context, ev *mxv1.NotificationEvent, now time.Time) (*http.Request, error) {
	return a.post(ctx, []Alert{AlertFor(ev.GetIncident(), a.external, now)})
}

func (a *alertmanager) ResendRequest(ctx context.Context, active []*mxv1.Incident, now time.Time) (*http.Request, error) {
	alerts := make([]Alert, len(active))
	for i, inc := range active {
		alerts[i] = AlertFor(inc, a.external, now)
	}
	return a.post(ctx, alerts)
}
