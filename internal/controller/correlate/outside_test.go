package correlate

import (
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

func reportResults(t *testing.T, now time.Time) []*mxv1.StoredResult {
	t.Helper()
	j := `{"organization-name":"Microsoft Corporation","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-02T00:00:00Z"},
"report-id":"ms-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"contoso.com"},"summary":{"total-successful-session-count":10,"total-failure-session-count":412},
"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mail.contoso.com","receiving-ip":"203.0.113.25","failed-session-count":412}]}]}`
	r, err := tlsrpt.Parse([]byte(j))
	if err != nil {
		t.Fatal(err)
	}
	var out []*mxv1.StoredResult
	for _, res := range tlsrpt.Derive([]*mxv1.TLSReport{r}, map[string]bool{"contoso.com": true}, now, 0).Results {
		out = append(out, &mxv1.StoredResult{AgentId: tlsrpt.AgentID, Result: res, CommittedAt: timestamppb.New(now)})
	}
	return out
}

// A TLS-RPT failure on a receiving MX joins the incident the agent on that
// host opened (as a peer), instead of opening its own.
func TestTLSRPTJoinsAgentIncident(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	agents := []*mxv1.Agent{{AgentId: "edge01", Site: "amsterdam", Hostname: "mail.contoso.com", LastSeen: timestamppb.New(now), LastBatchAt: timestamppb.New(now)}}
	expired := &mxv1.StoredResult{AgentId: "edge01", CommittedAt: timestamppb.New(now), Result: &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/certs",
		Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "AB12",
			SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Summary: "Certificate AB12 expired", Remediation: "Renew AB12."}}}}
	out := Correlate(Input{Agents: agents, Results: append(reportResults(t, now), expired), Now: now}, Config{})
	if len(out.Upserts) != 1 {
		t.Fatalf("want one incident, got %d: %v", len(out.Upserts), out.Upserts)
	}
	inc := out.Upserts[0]
	if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER || inc.GetCause() != "CERT_EXPIRED" || len(inc.GetMembers()) != 2 {
		t.Fatalf("incident: %v", inc)
	}
	peer := inc.GetMembers()[1]
	if peer.GetAgentId() != tlsrpt.AgentID || peer.GetRole() != rolePeer || !strings.Contains(peer.GetFinding().GetSummary(), "Microsoft Corporation failed 412 sessions to mail.contoso.com") {
		t.Fatalf("report member: %v", peer)
	}
	if strings.Join(inc.GetSites(), ",") != "amsterdam" || strings.Join(inc.GetHosts(), ",") != "mail.contoso.com" {
		t.Fatalf("sites %v hosts %v", inc.GetSites(), inc.GetHosts())
	}
}

// Reports alone open an incident when no agent sees a cause: on the host
// when an agent runs there, else about the MX as a remote target.
func TestTLSRPTAloneOpensIncident(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	out := Correlate(Input{Results: reportResults(t, now), Now: now}, Config{})
	if len(out.Upserts) != 1 || out.Upserts[0].GetCause() != "TLSRPT_FAILURES" || out.Upserts[0].GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		t.Fatalf("no agent: %v", out.Upserts)
	}
	// It says that only the reports see it, not that every site's agents
	// do, and does not send the admin to another operator for their own MX.
	inc := out.Upserts[0]
	if want := "mail.contoso.com:25: Microsoft Corporation failed 412 sessions to mail.contoso.com in the last 24 h (reports to 2026-12-02 00:00 UTC): certificate-expired (only the senders' TLS-RPT reports see it; no agent observes mail.contoso.com:25)"; inc.GetSummary() != want {
		t.Fatalf("summary %q, want %q", inc.GetSummary(), want)
	}
	if fix := inc.GetRemediation(); strings.Contains(fix, "operator") || !strings.HasPrefix(fix, "Senders saw an expired certificate on mail.contoso.com") ||
		!strings.Contains(fix, "run an agent on mail.contoso.com or add smtp://mail.contoso.com:25 to an agent's probe targets") {
		t.Fatalf("remediation %q", fix)
	}
	agents := []*mxv1.Agent{{AgentId: "edge01", Site: "amsterdam", Hostname: "mail.contoso.com", LastSeen: timestamppb.New(now), LastBatchAt: timestamppb.New(now)}}
	probe := &mxv1.StoredResult{AgentId: "edge01", CommittedAt: timestamppb.New(now), Result: &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://mail.contoso.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_OK}}
	out = Correlate(Input{Agents: agents, Results: append(reportResults(t, now), probe), Now: now}, Config{})
	if len(out.Upserts) != 1 || out.Upserts[0].GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER || strings.Join(out.Upserts[0].GetHosts(), ",") != "mail.contoso.com" ||
		!strings.Contains(out.Upserts[0].GetSummary(), "failed 412 sessions") {
		t.Fatalf("agent on the host, green probe: %v", out.Upserts)
	}
	// The reports carry no site; the agent on the host says where it is.
	if sum := out.Upserts[0].GetSummary(); !strings.HasPrefix(sum, "mail.contoso.com (site amsterdam): ") {
		t.Fatalf("summary %q does not name the host's site", sum)
	}
}

// When the agents see the expired certificate only from outside the host
// (their probes of it, no agent reading its store), the senders' failures
// join that inbound incident too, whichever agent ids sort first.
func TestTLSRPTJoinsPeersInboundIncident(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, prober := range []string{"edge02", "zz-edge02"} {
		agents := []*mxv1.Agent{
			{AgentId: "edge01", Site: "amsterdam", Hostname: "mail.contoso.com", LastSeen: timestamppb.New(now), LastBatchAt: timestamppb.New(now)},
			{AgentId: prober, Site: "amsterdam", Hostname: "edge02.contoso.com", LastSeen: timestamppb.New(now), LastBatchAt: timestamppb.New(now)},
		}
		probe := &mxv1.StoredResult{AgentId: prober, CommittedAt: timestamppb.New(now), Result: &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://mail.contoso.com:25",
			Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "AB12",
				SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Summary: "Certificate AB12 presented by mail.contoso.com:25 expired", Remediation: "Renew AB12.",
				Evidence: map[string]string{"origin": "presented", "endpoint": "mail.contoso.com:25"}}}}}
		out := Correlate(Input{Agents: agents, Results: append(reportResults(t, now), probe), Now: now}, Config{})
		if len(out.Upserts) != 1 {
			t.Fatalf("%s: want one incident, got %d: %v", prober, len(out.Upserts), out.Upserts)
		}
		inc := out.Upserts[0]
		if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER || inc.GetCause() != "CERT_EXPIRED" || len(inc.GetMembers()) != 2 ||
			inc.GetDirection() != mxv1.FlowDirection_FLOW_DIRECTION_INBOUND {
			t.Fatalf("%s: incident: %v", prober, inc)
		}
		var fromReports *mxv1.IncidentMember
		for _, m := range inc.GetMembers() {
			if m.GetAgentId() == tlsrpt.AgentID {
				fromReports = m
			}
		}
		if fromReports == nil || fromReports.GetRole() != rolePeer || fromReports.GetFinding().GetCode() != "TLSRPT_FAILURES" {
			t.Fatalf("%s: members %v", prober, inc.GetMembers())
		}
	}
}

// A real published report whose failures name no MX (Mail.ru could not
// fetch the MTA-STS policy: parsedmarc's mail.ru.json) opens an incident
// about the policy domain, saying only the reports see it and how an agent
// would check the domain from inside.
func TestTLSRPTPolicyFailuresOpenDomainIncident(t *testing.T) {
	b, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/mail.ru.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tlsrpt.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	now := r.GetEnd().AsTime().Add(9 * time.Hour)
	var results []*mxv1.StoredResult
	for _, res := range tlsrpt.Derive([]*mxv1.TLSReport{r}, map[string]bool{"example.com": true}, now, 0).Results {
		results = append(results, &mxv1.StoredResult{AgentId: tlsrpt.AgentID, Result: res, CommittedAt: timestamppb.New(now)})
	}
	out := Correlate(Input{Results: results, Now: now}, Config{})
	if len(out.Upserts) != 1 {
		t.Fatalf("want one incident: %v", out.Upserts)
	}
	inc := out.Upserts[0]
	if inc.GetCause() != "TLSRPT_POLICY_FAILURES" || inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET || inc.GetSubject() != "example.com" ||
		!strings.HasPrefix(inc.GetSummary(), "example.com: Mail.ru failed 2 sessions to example.com") || !strings.HasSuffix(inc.GetSummary(), "(only the senders' TLS-RPT reports see it; no agent observes example.com)") {
		t.Fatalf("incident: %v", inc)
	}
	if fix := inc.GetRemediation(); !strings.Contains(fix, "https://mta-sts.example.com/.well-known/mta-sts.txt") || !strings.Contains(fix, "add example.com to an agent's mail_domains") || strings.Contains(fix, "operator") {
		t.Fatalf("remediation %q", fix)
	}
}

// Reports that arrive before any agent sees the cause open their own
// incident; when an agent on the MX then reports the cause, the reports join
// the agent's incident as a peer, and the reports-only incident is
// resolved as superseded at once (its findings still current, so no clean
// observation would come for it until the next day's report).
func TestTLSRPTIncidentSupersededWhenAgentsSeeTheCause(t *testing.T) {
	fl := newFleet()
	fl.Now = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, r := range reportResults(t, fl.Now) {
		fl.report(tlsrpt.AgentID, r.GetResult())
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	reports := onlyCause(t, stored, "TLSRPT_FAILURES")
	if reports.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		t.Fatalf("reports alone: %v", reports)
	}
	fl.Now = fl.Now.Add(time.Minute)
	fl.agent("edge01", "amsterdam", "mail.contoso.com")
	fl.report("edge01", &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/certs", Findings: []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: crit, Subject: "AB12",
		SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Summary: "Certificate AB12 expired", Remediation: "Renew AB12."}}})
	fl.run(t, immediate, stored)
	agents := onlyCause(t, stored, "CERT_EXPIRED")
	if len(agents.GetMembers()) != 2 || agents.GetMembers()[1].GetAgentId() != tlsrpt.AgentID || agents.GetMembers()[1].GetRole() != rolePeer {
		t.Fatalf("the agent's incident: %v", agents.GetMembers())
	}
	old := stored[reports.GetId()]
	if old.GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED || lastEvent(old, incident.KindResolved) != reportsJoinedText {
		t.Fatalf("reports-only incident: state %v, timeline %v", old.GetState(), old.GetTimeline())
	}
	// Another round changes nothing; the agent's incident stays open.
	fl.Now = fl.Now.Add(time.Minute)
	fl.run(t, immediate, stored)
	if stored[reports.GetId()].GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED || stored[agents.GetId()].GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN {
		t.Fatalf("next round:\n%s", dump(open(stored)))
	}
}
