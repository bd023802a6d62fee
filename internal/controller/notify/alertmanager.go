package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// AlertmanagerConfig is an Alertmanager to post alerts to.
type AlertmanagerConfig struct {
	Name string // default "alertmanager"
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093.
	URL string
	// ResendInterval re-posts active incidents (default 60s). Active alerts
	// carry endsAt = now + 4 x ResendInterval, so Alertmanager resolves them
	// by itself if this controller cluster stops posting.
	ResendInterval time.Duration
	// Labels are added to every alert (e.g. cluster=prod-eu, so two mxprobe
	// clusters feeding one Alertmanager do not share alert fingerprints).
	// They may not replace the labels mxprobe sets.
	Labels map[string]string
}

type alertmanager struct {
	name, endpoint string
	links          linker
	resend         time.Duration
	labels         map[string]string
}

// AlertmanagerPath is the alerts endpoint.
const AlertmanagerPath = "/api/v2/alerts"

// alertLabels are the labels mxprobe sets itself.
var alertLabels = []string{"alertname", "severity", "cause", "scope", "incident_id", "fingerprint", "source", "site", "host", "instance", "target"}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func newAlertmanager(c AlertmanagerConfig, links linker) (*alertmanager, error) {
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
	for k, v := range c.Labels {
		if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
			return nil, fmt.Errorf("notify: alertmanager: label name %q is not a Prometheus label name", k)
		}
		if slices.Contains(alertLabels, k) {
			return nil, fmt.Errorf("notify: alertmanager: label %q is set by mxprobe (%s)", k, strings.Join(alertLabels, ", "))
		}
		if v == "" {
			return nil, fmt.Errorf("notify: alertmanager: label %q has no value", k)
		}
	}
	return &alertmanager{name: c.Name, endpoint: strings.TrimSuffix(u.String(), "/") + AlertmanagerPath, links: links, resend: c.ResendInterval,
		labels: maps.Clone(c.Labels)}, nil
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

// AlertFor builds the alert of an incident at now. Labels: alertname
// MxprobeIncident, severity, cause, scope, incident_id, fingerprint,
// source, instance (the affected system), site (when one), host (where the
// cause was found, for host-bound scopes), target (remote-target
// incidents), plus the configured ones. startsAt is when the incident last
// became active (a reopen starts a new alert); endsAt is the resolution
// time once resolved, else now + hold, so the alert ends by itself if
// nobody re-posts it. generatorURL is the incident's dashboard page.
func (a *alertmanager) AlertFor(inc *mxv1.Incident, now time.Time) Alert {
	d := a.links.data(inc)
	labels := map[string]string{
		"alertname": "MxprobeIncident", "severity": strings.ToLower(d.Severity), "cause": d.Cause, "scope": strings.ToLower(d.Scope),
		"incident_id": d.ID, "fingerprint": d.Fingerprint, "source": "mxprobe", "instance": d.AffectedSystem,
	}
	for k, v := range a.labels {
		labels[k] = v
	}
	if len(d.Sites) == 1 {
		labels["site"] = d.Sites[0]
	}
	switch inc.GetScope() {
	case mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION:
		if h := inc.GetRootCause().GetHost(); h != "" {
			labels["host"] = h
		}
	case mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET:
		labels["target"] = RemoteTarget(inc)
	}
	desc := d.Summary
	if d.DirectionDetail != "" {
		desc += "\n" + d.DirectionDetail
	}
	if d.Remediation != "" {
		desc += "\nFix: " + d.Remediation
	}
	ann := map[string]string{"summary": d.Summary, "description": desc, "subject": d.Subject}
	if d.RunbookURL != "" {
		ann["runbook_url"] = d.RunbookURL
	}
	if d.URL != "" {
		ann["dashboard_url"] = d.URL
	}
	if len(d.ExternalRefs) > 0 {
		ann["external_refs"] = refsText(d.ExternalRefs)
	}
	out := Alert{Labels: labels, Annotations: ann, StartsAt: ActiveSince(inc), GeneratorURL: d.URL}
	if out.StartsAt.IsZero() {
		out.StartsAt = now.UTC()
	}
	end := now.UTC().Add(4 * a.resend)
	if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		end = now.UTC()
		if d.ResolvedAt != nil {
			end = *d.ResolvedAt
		}
		if end.Before(out.StartsAt) {
			end = out.StartsAt
		}
	}
	out.EndsAt = &end
	return out
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
	return a.post(ctx, []Alert{a.AlertFor(ev.GetIncident(), now)})
}

func (a *alertmanager) ResendRequest(ctx context.Context, active []*mxv1.Incident, now time.Time) (*http.Request, error) {
	alerts := make([]Alert, len(active))
	for i, inc := range active {
		alerts[i] = a.AlertFor(inc, now)
	}
	return a.post(ctx, alerts)
}
