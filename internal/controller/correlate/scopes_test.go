package correlate

import (
	"regexp"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

const (
	crit = mxv1.Severity_SEVERITY_CRITICAL
	errS = mxv1.Severity_SEVERITY_ERROR
	warn = mxv1.Severity_SEVERITY_WARNING
)

// threeSites: two Edge servers and a Mailbox server per site.
func threeSites() *simFleet {
	fl := newFleet()
	for _, s := range []string{"amsterdam", "rotterdam", "london"} {
		p := s[:3]
		fl.agent(p+"-edge01", s, p+"-edge01.contoso.com")
		fl.agent(p+"-edge02", s, p+"-edge02.contoso.com")
		fl.agent(p+"-mbx01", s, p+"-mbx01.contoso.com")
	}
	return fl
}

func onlyIncident(t *testing.T, stored map[string]*mxv1.Incident, scope mxv1.IncidentScope) *mxv1.Incident {
	t.Helper()
	incs := open(stored)
	if len(incs) != 1 || incs[0].GetScope() != scope {
		t.Fatalf("want one %v incident, got:\n%s", scope, dump(incs))
	}
	forPeople(t, incs[0])
	return incs[0]
}

var (
	leadingSeverity = regexp.MustCompile(`^(CRITICAL|ERROR|WARNING|INFO)\b`)
	countedOne      = regexp.MustCompile(`\b1 (symptoms|peer observations|servers|sites|agents)\b`)
	rawCode         = regexp.MustCompile(`\b[A-Z][A-Z0-9]+(_[A-Z0-9]+)+\b`)
	oneSiteMany     = regexp.MustCompile(`\(site [^()]*,`)
)

// forPeople checks an incident's summary reads as written for people, as
// pagers and tickets show it next to their own severity field: no leading
// severity ("CRITICAL CRITICAL" on a pager), counted nouns agreeing ("1
// symptom", never "1 symptoms"), certificate identities as "subject
// (issued by issuer)" rather than raw <I>..<S>.., finding titles rather
// than codes.
func forPeople(t *testing.T, inc *mxv1.Incident) {
	t.Helper()
	s := inc.GetSummary()
	if s == "" {
		t.Errorf("%s: no summary", inc.GetId())
	}
	if leadingSeverity.MatchString(s) {
		t.Errorf("summary starts with its severity: %q", s)
	}
	if m := countedOne.FindString(s); m != "" {
		t.Errorf("summary says %q: %q", m, s)
	}
	for _, text := range []string{s, inc.GetRemediation()} {
		if strings.Contains(text, "<I>") || strings.Contains(text, "<S>") {
			t.Errorf("raw identity in %q", text)
		}
	}
	if oneSiteMany.MatchString(s) {
		t.Errorf("'site' before several sites: %q", s)
	}
	// A server incident's summary is its root finding's own (here the
	// fixtures', which name codes); every other scope's is correlate's.
	if m := rawCode.FindString(s); m != "" && inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER {
		t.Errorf("summary names the code %s instead of its title: %q", m, s)
	}
}

// certificate: one renewal gone wrong: the same keyless certificate on
// Edge servers of two sites is ONE certificate incident listing them.
func TestScopeCertificate(t *testing.T) {
	fl := threeSites()
	na := t0.Add(300 * 24 * time.Hour)
	for _, id := range []string{"ams-edge01", "ams-edge02", "rot-edge01"} {
		host := fl.Agents[id].GetHostname()
		f := storeCertFinding(finding.CertNoPrivateKey, crit, "B79D0C5E11AA", "CN=mail.contoso.com", "CN=Contoso CA", host, na)
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE)
	if inc.GetSubject() != "B79D0C5E11AA" || strings.Join(inc.GetHosts(), ",") != "ams-edge01.contoso.com,ams-edge02.contoso.com,rot-edge01.contoso.com" ||
		strings.Join(inc.GetSites(), ",") != "amsterdam,rotterdam" || inc.GetSeverity() != crit {
		t.Fatalf("certificate incident:\n%s", dump([]*mxv1.Incident{inc}))
	}
	for _, h := range inc.GetHosts() {
		if !strings.Contains(inc.GetRemediation(), h) {
			t.Errorf("remediation lacks %s: %s", h, inc.GetRemediation())
		}
	}
}

// certificate by identity: different thumbprints, same issuer+subject.
func TestScopeCertificateByIdentity(t *testing.T) {
	fl := threeSites()
	na := t0.Add(-24 * time.Hour)
	for i, id := range []string{"ams-edge01", "lon-edge01"} {
		host := fl.Agents[id].GetHostname()
		f := storeCertFinding(finding.CertExpired, crit, []string{"AAAA", "BBBB"}[i], "CN=mail.contoso.com", "CN=Contoso CA", host, na)
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE)
	if inc.GetSubject() != "<I>CN=Contoso CA<S>CN=mail.contoso.com" || len(inc.GetHosts()) != 2 {
		t.Fatalf("identity incident:\n%s", dump([]*mxv1.Incident{inc}))
	}
}

// server: a host-local cause with peers' failing probes to that host's
// endpoint folded in (inbound), and not a separate incident per peer.
func TestScopeServerFoldsPeerProbes(t *testing.T) {
	fl := threeSites()
	host := "rot-edge02.contoso.com"
	f := storeCertFinding(finding.CertKeyNotAccessible, crit, "C0FFEE01", "CN=rot-edge02.contoso.com", "CN=Contoso CA", host, t0.Add(200*24*time.Hour))
	f.Evidence["transport_can_read_key"] = "false"
	fl.report("rot-edge02", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	for _, id := range []string{"ams-mbx01", "rot-mbx01", "lon-mbx01"} {
		fl.probe(id, host+":25", endpointFinding(finding.TLSHandshakeFailed, host+":25", errS))
		fl.probe(id, "ams-edge01.contoso.com:25")
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_SERVER)
	peers := 0
	for _, m := range inc.GetMembers() {
		if m.GetRole() == rolePeer {
			peers++
		}
	}
	if peers != 3 || inc.GetRootCause().GetCode() != "CERT_KEY_NOT_ACCESSIBLE" || inc.GetDirection() != mxv1.FlowDirection_FLOW_DIRECTION_INBOUND ||
		strings.Join(inc.GetHosts(), ",") != host || len(inc.GetSites()) != 3 {
		t.Fatalf("server incident (peers %d):\n%s", peers, dump([]*mxv1.Incident{inc}))
	}
}

// server without a local finding: every prober fails STARTTLS to one
// internal host: a server incident on that host, not one per observer.
func TestScopeServerFromPeersOnly(t *testing.T) {
	fl := threeSites()
	ep := "lon-edge02.contoso.com:25"
	for _, id := range []string{"ams-mbx01", "rot-mbx01", "lon-mbx01"} {
		fl.probe(id, ep, endpointFinding(finding.SMTPStartTLSNotOffered, ep, errS))
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_SERVER)
	if inc.GetSubject() != "lon-edge02.contoso.com/"+ep || len(inc.GetAgents()) != 3 {
		t.Fatalf("incident:\n%s", dump([]*mxv1.Incident{inc}))
	}
}

// site: every agent of london fails STARTTLS to the same targets while the
// other sites succeed (ESMTP inspection on london's firewall).
func TestScopeSite(t *testing.T) {
	fl := threeSites()
	targets := []string{"partner.fabrikam.com:25", "mx.tailspin.com:25"}
	for _, id := range sortedKeys(fl.Agents) {
		for _, ep := range targets {
			if strings.HasPrefix(id, "lon-") {
				fl.probe(id, ep, endpointFinding(finding.SMTPStartTLSNotOffered, ep, errS))
			} else {
				fl.probe(id, ep)
			}
		}
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_SITE)
	if inc.GetSubject() != "london" || len(inc.GetAgents()) != 3 || strings.Join(inc.GetSites(), ",") != "london" ||
		!strings.Contains(inc.GetSummary(), "mx.tailspin.com:25") || !strings.Contains(inc.GetRemediation(), "inspect") {
		t.Fatalf("site incident:\n%s\n%s", dump([]*mxv1.Incident{inc}), inc.GetRemediation())
	}
}

// remote target: agents in every site fail to the same remote endpoint.
func TestScopeRemoteTarget(t *testing.T) {
	fl := threeSites()
	ep := "mx.partner.example:25"
	for _, id := range sortedKeys(fl.Agents) {
		if strings.HasSuffix(id, "mbx01") {
			continue // not every agent probes it
		}
		fl.probe(id, ep, endpointFinding(finding.CertExpired, ep, crit))
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET)
	if inc.GetSubject() != ep || len(inc.GetSites()) != 3 || len(inc.GetAgents()) != 6 {
		t.Fatalf("remote incident:\n%s", dump([]*mxv1.Incident{inc}))
	}
}

// remote target from mail flow: every site's Edge servers fail TLS to
// Exchange Online (front-end names differ but collapse): the EXO side.
func TestScopeRemoteTargetExchangeOnline(t *testing.T) {
	fl := threeSites()
	for i, id := range []string{"ams-edge01", "rot-edge01", "lon-edge02"} {
		name := []string{"AM5EUR03FT012.mail.protection.outlook.com", "DB5EUR01FT044.mail.protection.outlook.com", "tenant-mail-onmicrosoft-com.mail.protection.outlook.com"}[i]
		fl.report(id, &mxv1.CheckResult{Check: "protocol_log", Target: "ProtocolLog", Findings: []*mxv1.Finding{flowFinding(finding.LogTLSNegotiationFailed, "Outbound to Office 365", name)}})
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET)
	if inc.GetSubject() != ExchangeOnline || len(inc.GetSites()) != 3 {
		t.Fatalf("remote incident:\n%s", dump([]*mxv1.Incident{inc}))
	}
}

// direction: one Edge server's outbound flow to Exchange Online fails with
// no local root cause while inbound (EXO -> it) is green: stated as such.
func TestScopeDirection(t *testing.T) {
	fl := threeSites()
	fl.agent("exo-vantage", "exchange-online", "vantage.contoso.onmicrosoft.com")
	fl.report("ams-edge01", &mxv1.CheckResult{Check: "protocol_log", Target: "ProtocolLog", Findings: []*mxv1.Finding{
		flowFinding(finding.LogTLSNegotiationFailed, "Outbound to Office 365", "AM5EUR03FT012.mail.protection.outlook.com")}})
	for _, id := range []string{"rot-edge01", "lon-edge01"} {
		fl.report(id, &mxv1.CheckResult{Check: "protocol_log", Target: "ProtocolLog"})
	}
	fl.probe("exo-vantage", "ams-edge01.contoso.com:25")
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	inc := onlyIncident(t, stored, mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION)
	if inc.GetDirection() != mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND || inc.GetSubject() != "ams-edge01.contoso.com -> Exchange Online" ||
		!strings.Contains(inc.GetDirectionDetail(), "inbound -> ams-edge01.contoso.com works") {
		t.Fatalf("direction incident: %s\n%s", inc.GetDirectionDetail(), dump([]*mxv1.Incident{inc}))
	}
}

// fleet horizon: one incident per certificate identity listing every
// server that holds it, across sites.
func TestScopeFleetHorizon(t *testing.T) {
	fl := threeSites()
	na := t0.Add(12 * 24 * time.Hour)
	for _, id := range []string{"ams-edge01", "ams-edge02", "rot-edge01", "lon-edge01"} {
		f := storeCertFinding(finding.CertExpiring, warn, "EEEE1111", "CN=mail.contoso.com", "CN=Contoso CA", fl.Agents[id].GetHostname(), na)
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	}
	f := storeCertFinding(finding.CertExpiring, warn, "FFFF2222", "CN=legacy.contoso.com", "CN=Contoso CA", "lon-mbx01.contoso.com", na)
	fl.report("lon-mbx01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	incs := open(stored)
	if len(incs) != 2 {
		t.Fatalf("want two horizon incidents:\n%s", dump(incs))
	}
	var main *mxv1.Incident
	for _, i := range incs {
		if i.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON {
			t.Fatalf("scope %v", i.GetScope())
		}
		if i.GetSubject() == "<I>CN=Contoso CA<S>CN=mail.contoso.com" {
			main = i
		}
	}
	if main == nil || len(main.GetHosts()) != 4 || !strings.Contains(main.GetSummary(), "held by 4 servers") {
		t.Fatalf("horizon incident:\n%s", dump(incs))
	}
	for _, i := range incs {
		forPeople(t, i)
		if i != main && !strings.Contains(i.GetSummary(), "held by 1 server:") {
			t.Errorf("one holder: %q", i.GetSummary())
		}
	}
}

// AGENT_SILENT: an agent that stops reporting raises AGENT_SILENT for its
// site, and its evidence in other incidents is marked stale.
func TestAgentSilentMarksEvidenceStale(t *testing.T) {
	fl := threeSites()
	f := storeCertFinding(finding.CertNoPrivateKey, crit, "DEAD01", "CN=x", "CN=Contoso CA", "lon-edge01.contoso.com", t0.Add(90*24*time.Hour))
	fl.report("lon-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	cfg := immediate
	cfg.SilentAfter = 3 * time.Minute
	stored := map[string]*mxv1.Incident{}
	fl.run(t, cfg, stored)
	fl.Now = fl.Now.Add(5 * time.Minute)
	for _, id := range sortedKeys(fl.Agents) {
		if id != "lon-edge01" {
			fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
		}
	}
	fl.run(t, cfg, stored)
	var silent, server *mxv1.Incident
	for _, i := range open(stored) {
		switch i.GetCause() {
		case "AGENT_SILENT":
			silent = i
		case "CERT_NO_PRIVATE_KEY":
			server = i
		}
	}
	if silent == nil || silent.GetSubject() != "london" || strings.Join(silent.GetAgents(), ",") != "lon-edge01" {
		t.Fatalf("AGENT_SILENT incident:\n%s", dump(open(stored)))
	}
	if server == nil || !server.GetStale() || !server.GetMembers()[0].GetStale() {
		t.Fatalf("server incident evidence not stale:\n%s", dump(open(stored)))
	}
	// The agent comes back: AGENT_SILENT resolves.
	fl.Now = fl.Now.Add(time.Minute)
	fl.report("lon-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	fl.run(t, cfg, stored)
	if stored[silent.GetId()].GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("AGENT_SILENT state %v after the agent returned", stored[silent.GetId()].GetState())
	}
}
