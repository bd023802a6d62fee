package notify

import (
	"net"
	"net/url"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// linker builds the links payloads carry: the incident's dashboard page
// (where people act), its API resource, and the runbook of its cause.
type linker struct {
	external string // the controller's HTTP base URL ("": no links)
	runbook  string // template with {code} / {code_lower} ("": none)
}

func (l linker) base() string { return strings.TrimSuffix(l.external, "/") }

// Page is the incident's dashboard page.
func (l linker) Page(id string) string {
	if l.external == "" {
		return ""
	}
	return l.base() + "/incidents/" + url.PathEscape(id)
}

// API is the incident's API resource.
func (l linker) API(id string) string {
	if l.external == "" {
		return ""
	}
	return l.base() + "/v1/incidents/" + url.PathEscape(id)
}

// Runbook is the runbook URL of a finding code ("" when none configured).
func (l linker) Runbook(code string) string {
	if l.runbook == "" || code == "" {
		return ""
	}
	r := strings.NewReplacer("{code}", url.PathEscape(code), "{code_lower}", url.PathEscape(strings.ToLower(code)))
	return r.Replace(l.runbook)
}

// AffectedSystem is the system an incident is about, never the agent that
// observed it: the remote endpoint's host for a remote-target incident,
// the site for a site-wide one, the host the cause was found on for a
// server or direction incident, the single holder of a certificate (or the
// certificate itself when several servers hold it). PagerDuty's
// payload.source, ServiceNow's node and Alertmanager's instance label carry
// it, so CMDB binding attaches the alert to the right configuration item.
func AffectedSystem(inc *mxv1.Incident) string {
	switch inc.GetScope() {
	case mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET:
		return targetHost(inc.GetSubject())
	case mxv1.IncidentScope_INCIDENT_SCOPE_SITE:
		return inc.GetSubject()
	case mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON:
		if len(inc.GetHosts()) == 1 {
			return inc.GetHosts()[0]
		}
		return inc.GetSubject()
	}
	if h := inc.GetRootCause().GetHost(); h != "" {
		return h
	}
	if len(inc.GetHosts()) > 0 {
		return inc.GetHosts()[0]
	}
	if inc.GetSubject() != "" {
		return inc.GetSubject()
	}
	return "mxprobe"
}

// RemoteTarget is the remote endpoint of a remote-target incident ("" for
// other scopes).
func RemoteTarget(inc *mxv1.Incident) string {
	if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		return ""
	}
	return inc.GetSubject()
}

// targetHost turns "smtp://mx.fabrikam.com:25", "mx.fabrikam.com:25" or a
// service name into the host part (the value as is when it has none).
func targetHost(t string) string {
	if u, err := url.Parse(t); err == nil && u.Host != "" {
		t = u.Host
	}
	if h, _, err := net.SplitHostPort(t); err == nil {
		return h
	}
	return t
}

// ActiveSince is when the incident last became active: its latest reopen,
// else when it opened (Alertmanager's startsAt; a reopened incident is a
// new alert there, since the old one was resolved).
func ActiveSince(inc *mxv1.Incident) time.Time {
	tl := inc.GetTimeline()
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].GetKind() == incident.KindReopened && tl[i].GetAt() != nil {
			return tl[i].GetAt().AsTime().UTC()
		}
	}
	if t := tp(inc.GetOpenedAt()); t != nil {
		return *t
	}
	if t := tp(inc.GetFirstSeen()); t != nil {
		return *t
	}
	return time.Time{}
}
