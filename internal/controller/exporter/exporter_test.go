package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// fakeState is the exporter's State in memory.
type fakeState struct {
	agents    []*mxv1.Agent
	findings  []*mxv1.ObservedFinding
	results   []*mxv1.CheckResultRecord
	incidents []*mxv1.Incident
	targets   []*mxv1.NotifyTargetStatus
	deliv     []*mxv1.Delivery
}

func (f *fakeState) Agents(string) []*mxv1.Agent                             { return f.agents }
func (f *fakeState) Findings(store.FindingFilter) []*mxv1.ObservedFinding    { return f.findings }
func (f *fakeState) Incidents(incident.Filter) []*mxv1.Incident              { return f.incidents }
func (f *fakeState) NotifyTargets() []*mxv1.NotifyTargetStatus               { return f.targets }
func (f *fakeState) Deliveries(string, mxv1.DeliveryStatus) []*mxv1.Delivery { return f.deliv }
func (f *fakeState) Results(store.ResultFilter, store.ResultKey, int) ([]*mxv1.CheckResultRecord, *store.ResultKey) {
	return f.results, nil
}

func TestCommonName(t *testing.T) {
	for in, want := range map[string]string{
		"CN=mail.contoso.com, O=Contoso, C=NL": "mail.contoso.com",
		"O=Contoso,CN=mail.contoso.com":        "mail.contoso.com",
		`CN="Contoso, Inc. CA", O=Contoso`:     "Contoso, Inc. CA",
		`CN=a\,b,O=x`:                          "a,b",
		"Contoso Root":                         "Contoso Root",
		"":                                     "",
	} {
		if got := CommonName(in); got != want {
			t.Errorf("CommonName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProbesIncidentsAndNotify(t *testing.T) {
	now := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	probe := func(agent, target string, st mxv1.CheckStatus, tls string) *mxv1.CheckResultRecord {
		r := &mxv1.CheckResultRecord{AgentId: agent, Site: "amsterdam", Hostname: agent + ".contoso.com", Result: &mxv1.CheckResult{
			Check: ProbeCheck, Target: target, Status: st, StartedAt: timestamppb.New(now), Duration: durationpb.New(250 * time.Millisecond)}}
		if tls != "" {
			r.Result.Tls = &mxv1.TLSSession{Version: tls}
		}
		return r
	}
	retired := probe("edge01", "smtp://old.example:25", mxv1.CheckStatus_CHECK_STATUS_FAIL, "")
	retired.Retired = true
	st := &fakeState{
		results: []*mxv1.CheckResultRecord{
			probe("edge01", "smtp://mx.fabrikam.com:25", mxv1.CheckStatus_CHECK_STATUS_OK, "TLS 1.3"),
			probe("edge01", "smtp://mx.partner.com:25", mxv1.CheckStatus_CHECK_STATUS_FAIL, ""),
			retired,
		},
		incidents: []*mxv1.Incident{
			{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, Severity: mxv1.Severity_SEVERITY_CRITICAL},
			{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, Severity: mxv1.Severity_SEVERITY_CRITICAL},
			{State: mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED, Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SITE, Severity: mxv1.Severity_SEVERITY_ERROR},
			{State: mxv1.IncidentState_INCIDENT_STATE_RESOLVED, Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, Severity: mxv1.Severity_SEVERITY_CRITICAL},
		},
		targets: []*mxv1.NotifyTargetStatus{{Name: "pagerduty", FailedAttempts: 7, FailedDeliveries: 1}},
		deliv:   []*mxv1.Delivery{{Target: "pagerduty", Status: mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING}},
	}
	c := New(Config{State: st, Targets: []string{"pagerduty", "webhook"}})
	expected := `
# HELP mxprobe_probe_success 1 when an agent's latest live STARTTLS probe of the target succeeded (no finding of ERROR or worse), else 0.
# TYPE mxprobe_probe_success gauge
mxprobe_probe_success{agent="edge01",host="edge01.contoso.com",site="amsterdam",target="smtp://mx.fabrikam.com:25"} 1
mxprobe_probe_success{agent="edge01",host="edge01.contoso.com",site="amsterdam",target="smtp://mx.partner.com:25"} 0
# HELP mxprobe_probe_tls_version_info Always 1 for the TLS version an agent's latest probe of the target negotiated (version label, e.g. "TLS 1.2").
# TYPE mxprobe_probe_tls_version_info gauge
mxprobe_probe_tls_version_info{agent="edge01",host="edge01.contoso.com",site="amsterdam",target="smtp://mx.fabrikam.com:25",version="TLS 1.3"} 1
# HELP mxprobe_notify_failed_attempts_total Notification attempts that failed (each retry counts), per target, since the cluster was created.
# TYPE mxprobe_notify_failed_attempts_total counter
mxprobe_notify_failed_attempts_total{target="pagerduty"} 7
mxprobe_notify_failed_attempts_total{target="webhook"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(expected), "mxprobe_probe_success", "mxprobe_probe_tls_version_info", "mxprobe_notify_failed_attempts_total"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("pedantic registry: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "mxprobe_incidents_open" {
			continue
		}
		if n := len(mf.GetMetric()); n != 6*4*2 {
			t.Errorf("%d incident series, want every scope x severity x state (48)", n)
		}
		for _, m := range mf.GetMetric() {
			var k []string
			for _, l := range m.GetLabel() {
				k = append(k, l.GetValue())
			}
			got[strings.Join(k, "/")] = m.GetGauge().GetValue()
		}
	}
	if got["server/critical/open"] != 2 || got["site/error/acknowledged"] != 1 || got["server/critical/acknowledged"] != 0 {
		t.Errorf("incidents: %v", got)
	}
}

// Each family stops at MaxSeries; the rest is counted, and a label set
// seen twice is exported once.
func TestCardinalityBound(t *testing.T) {
	st := &fakeState{}
	for i := range 50 {
		st.agents = append(st.agents, &mxv1.Agent{AgentId: "a" + strings.Repeat("x", i), Site: "s", Hostname: strings.Repeat("h", 300), LastSeen: timestamppb.Now()})
	}
	st.agents = append(st.agents, st.agents[0])
	c := New(Config{State: st, MaxSeries: 10})
	if n := testutil.CollectAndCount(c, "mxprobe_agent_last_seen_timestamp_seconds"); n != 10 {
		t.Fatalf("%d series, want the bound 10", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, _ := reg.Gather()
	dropped := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "mxprobe_exporter_series_dropped" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "mxprobe_agent_last_seen_timestamp_seconds" {
					dropped = m.GetGauge().GetValue()
				}
			}
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if len(l.GetValue()) > MaxLabelLength {
					t.Fatalf("%s: label %s is %d bytes", mf.GetName(), l.GetName(), len(l.GetValue()))
				}
			}
		}
	}
	if dropped != 40 {
		t.Fatalf("dropped %v, want 40 (50 agents, bound 10)", dropped)
	}
}
