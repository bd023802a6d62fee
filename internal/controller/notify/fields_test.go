package notify

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// remoteIncident: agents in every site fail STARTTLS to a partner's MX;
// the root cause was found by an agent on edge01 (the observer).
func remoteIncident() *mxv1.Incident {
	inc := testIncident()
	inc.Scope, inc.Cause, inc.Subject = mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, "TLS_HANDSHAKE_FAILED", "smtp://mx.fabrikam.com:25"
	inc.RootCause = &mxv1.RootCause{Code: "TLS_HANDSHAKE_FAILED", Subject: "mx.fabrikam.com:25", Host: "edge01.contoso.com", Site: "amsterdam"}
	inc.Hosts, inc.Sites = []string{"edge01.contoso.com", "edge03.contoso.com"}, []string{"amsterdam", "berlin"}
	return inc
}

func TestAffectedSystemIsNotTheObserver(t *testing.T) {
	for _, c := range []struct {
		name string
		inc  *mxv1.Incident
		want string
	}{
		{"server", testIncident(), "edge02.contoso.com"},
		{"remote target", remoteIncident(), "mx.fabrikam.com"},
		{"site", &mxv1.Incident{Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SITE, Subject: "amsterdam", RootCause: &mxv1.RootCause{Host: "edge01"}}, "amsterdam"},
		{"certificate on one server", &mxv1.Incident{Scope: mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, Subject: "AB12", Hosts: []string{"edge02"}}, "edge02"},
		{"certificate on two", &mxv1.Incident{Scope: mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, Subject: "AB12", Hosts: []string{"edge01", "edge02"}}, "AB12"},
	} {
		if got := AffectedSystem(c.inc); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	ev := &mxv1.NotificationEvent{Type: incident.EventOpened, Fingerprint: "fp", Incident: remoteIncident()}
	pd := PagerDutyEventFor("R", PagerDutyTrigger, ev, "https://mx.example")
	if pd.Payload.Source != "mx.fabrikam.com" || pd.ClientURL != "https://mx.example/incidents/"+ev.GetIncident().GetId() {
		t.Errorf("PagerDuty source %q client_url %q", pd.Payload.Source, pd.ClientURL)
	}
	sn := ServiceNowEventFor("mxprobe", ev, "")
	if sn.Node != "mx.fabrikam.com" || !strings.Contains(sn.AdditionalInfo, `"mxprobe_observers":"edge02"`) {
		t.Errorf("ServiceNow node %q info %s", sn.Node, sn.AdditionalInfo)
	}
	am, err := newAlertmanager(AlertmanagerConfig{URL: "http://am:9093", Labels: map[string]string{"cluster": "eu"}}, linker{})
	if err != nil {
		t.Fatal(err)
	}
	a := am.AlertFor(remoteIncident(), time.Now())
	if a.Labels["target"] != "smtp://mx.fabrikam.com:25" || a.Labels["instance"] != "mx.fabrikam.com" || a.Labels["host"] != "" || a.Labels["cluster"] != "eu" {
		t.Errorf("Alertmanager labels %v", a.Labels)
	}
	if _, err := newAlertmanager(AlertmanagerConfig{URL: "http://am:9093", Labels: map[string]string{"severity": "x"}}, linker{}); err == nil {
		t.Error("an extra label replacing mxprobe's severity was accepted")
	}
	if _, err := newAlertmanager(AlertmanagerConfig{URL: "http://am:9093", Labels: map[string]string{"bad-name": "x"}}, linker{}); err == nil {
		t.Error("an invalid label name was accepted")
	}
}

func TestServiceNowSeverityWithinDocumentedRange(t *testing.T) {
	for sev := range mxv1.Severity_name {
		inc := testIncident()
		inc.Severity = mxv1.Severity(sev)
		for _, typ := range []string{incident.EventOpened, incident.EventUpdated, incident.EventAcknowledged} {
			if inc.State = mxv1.IncidentState_INCIDENT_STATE_OPEN; typ == incident.EventAcknowledged {
				inc.State = mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
			}
			got := ServiceNowEventFor("mxprobe", &mxv1.NotificationEvent{Type: typ, Incident: inc}, "").Severity
			n, err := strconv.Atoi(got)
			if err != nil || n < 1 || n > 5 {
				t.Errorf("%v %s: severity %q: an open alert needs 1..5 (0 clears it)", inc.Severity, typ, got)
			}
		}
		inc.State = mxv1.IncidentState_INCIDENT_STATE_RESOLVED
		if got := ServiceNowEventFor("mxprobe", &mxv1.NotificationEvent{Type: incident.EventResolved, Incident: inc}, "").Severity; got != ServiceNowClear {
			t.Errorf("resolve: severity %q, want 0 (Clear)", got)
		}
	}
	want := map[mxv1.Severity]string{mxv1.Severity_SEVERITY_CRITICAL: "1", mxv1.Severity_SEVERITY_ERROR: "2", mxv1.Severity_SEVERITY_WARNING: "4", mxv1.Severity_SEVERITY_INFO: "5"}
	for sev, w := range want {
		if got := serviceNowSeverity(sev); got != w {
			t.Errorf("%v -> %s, want %s", sev, got, w)
		}
	}
}

func TestPagerDutyActionsBringTheAlertToTheIncidentState(t *testing.T) {
	const (
		open  = mxv1.IncidentState_INCIDENT_STATE_OPEN
		acked = mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
		res   = mxv1.IncidentState_INCIDENT_STATE_RESOLVED
		none  = mxv1.IncidentState_INCIDENT_STATE_UNSPECIFIED
	)
	for _, c := range []struct {
		typ      string
		was, now mxv1.IncidentState
		want     []string
	}{
		{incident.EventOpened, none, open, []string{"trigger"}},
		{incident.EventOpened, none, acked, []string{"trigger", "acknowledge"}},
		{incident.EventOpened, res, open, []string{"trigger"}},
		{incident.EventOpened, acked, open, []string{"resolve", "trigger"}},
		{incident.EventOpened, acked, acked, []string{"resolve", "trigger", "acknowledge"}},
		{incident.EventUpdated, open, open, []string{"trigger"}},
		{incident.EventAcknowledged, open, acked, []string{"acknowledge"}},
		{incident.EventResolved, acked, res, []string{"resolve"}},
	} {
		got := PagerDutyActions(&mxv1.NotificationEvent{Type: c.typ, PreviousState: c.was, Incident: &mxv1.Incident{State: c.now}})
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %v -> %v: %v, want %v", c.typ, c.was, c.now, got, c.want)
		}
	}
}

func TestRunbookURLTemplate(t *testing.T) {
	l := linker{external: "https://mx.example/", runbook: "https://wiki.contoso.com/mail/{code}#{code_lower}"}
	if got := l.Runbook("CERT_NO_PRIVATE_KEY"); got != "https://wiki.contoso.com/mail/CERT_NO_PRIVATE_KEY#cert_no_private_key" {
		t.Errorf("runbook %q", got)
	}
	if got := (linker{}).Runbook("X"); got != "" {
		t.Errorf("no template: %q", got)
	}
	if got := l.Page("inc-1"); got != "https://mx.example/incidents/inc-1" {
		t.Errorf("page %q", got)
	}
}

func TestServiceNowTableWorkNoteForTickets(t *testing.T) {
	inc := testIncident()
	inc.ExternalRefs = map[string]string{"servicenow": "INC0012345", "jira": "OPS-42"}
	inc.Timeline = []*mxv1.TimelineEntry{{Kind: incident.KindExternalRefs, Actor: "alice"}}
	rec := ServiceNowTableRecordFor(&mxv1.NotificationEvent{Type: incident.EventUpdated, Incident: inc, RefsChanged: true}, "", "", "", true, "1")
	if rec.WorkNotes != "mxprobe: external references now jira OPS-42, servicenow INC0012345 (set by alice)." {
		t.Errorf("work notes %q", rec.WorkNotes)
	}
	if rec := ServiceNowTableRecordFor(&mxv1.NotificationEvent{Type: incident.EventUpdated, Incident: inc}, "", "", "", true, "1"); rec.WorkNotes != "" {
		t.Errorf("work notes without a change of references: %q", rec.WorkNotes)
	}
}
