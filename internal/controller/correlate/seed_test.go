package correlate

import (
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// seedFleet: three sites. EDGE02 in amsterdam runs the real agent checks
// over the seed incident's evidence; every other server is healthy; an
// Exchange Online vantage agent and the peers probe EDGE02 inbound and get
// STARTTLS fine (EXO -> on-prem green).
func seedFleet(t testing.TB) (*simFleet, string) {
	fl := newFleet()
	fl.agent("ams-edge01", "amsterdam", "edge01.contoso.com")
	fl.agent("ams-edge02", "amsterdam", "edge02.contoso.com")
	fl.agent("ams-mbx01", "amsterdam", "mbx01.contoso.com")
	fl.agent("rtm-edge03", "rotterdam", "edge03.contoso.com")
	fl.agent("rtm-mbx02", "rotterdam", "mbx02.contoso.com")
	fl.agent("exo-vantage", "exchange-online", "vantage.contoso.onmicrosoft.com")
	keyless, results := seedEdgeResults(t, "edge02.contoso.com")
	for _, r := range results {
		fl.report("ams-edge02", r)
	}
	for _, id := range []string{"ams-edge01", "ams-mbx01", "rtm-edge03", "rtm-mbx02"} {
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
		fl.report(id, &mxv1.CheckResult{Check: "queue", Target: "queues.json"})
	}
	for _, id := range []string{"exo-vantage", "ams-mbx01", "rtm-mbx02"} {
		fl.probe(id, "edge02.contoso.com:25")
		fl.probe(id, "edge01.contoso.com:25")
		fl.probe(id, "edge03.contoso.com:25")
	}
	return fl, keyless
}

// THE SEED CASE: one incident, scope server, direction outbound, root
// cause CERT_NO_PRIVATE_KEY on the keyless thumbprint, a fix naming host and
// thumbprint, and no separate incidents for its symptoms.
func TestSeedCaseIsOneServerIncident(t *testing.T) {
	fl, keyless := seedFleet(t)
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	incs := open(stored)
	if len(incs) != 1 {
		t.Fatalf("want exactly one incident, got %d:\n%s", len(incs), dump(incs))
	}
	inc := incs[0]
	if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER {
		t.Errorf("scope %v, want SERVER", inc.GetScope())
	}
	if inc.GetDirection() != mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND {
		t.Errorf("direction %v (%s), want OUTBOUND", inc.GetDirection(), inc.GetDirectionDetail())
	}
	rc := inc.GetRootCause()
	if rc.GetCode() != "CERT_NO_PRIVATE_KEY" || rc.GetSubject() != keyless || rc.GetHost() != "edge02.contoso.com" || rc.GetSite() != "amsterdam" {
		t.Errorf("root cause %v, want CERT_NO_PRIVATE_KEY %s on edge02.contoso.com (amsterdam)", rc, keyless)
	}
	for _, want := range []string{"edge02.contoso.com", keyless, "Remove-Item", "MSExchangeTransport"} {
		if !strings.Contains(inc.GetRemediation(), want) {
			t.Errorf("remediation lacks %q: %s", want, inc.GetRemediation())
		}
	}
	for _, want := range []string{"outbound edge02.contoso.com -> Exchange Online fails", "inbound -> edge02.contoso.com works", "exo-vantage"} {
		if !strings.Contains(inc.GetDirectionDetail(), want) {
			t.Errorf("direction detail lacks %q: %s", want, inc.GetDirectionDetail())
		}
	}
	if !strings.Contains(inc.GetSummary(), "edge02.contoso.com") || !strings.Contains(inc.GetSummary(), keyless) {
		t.Errorf("summary %q lacks host or thumbprint", inc.GetSummary())
	}
	codes := map[string]string{}
	for _, m := range inc.GetMembers() {
		codes[m.GetFinding().GetCode()] = m.GetRole()
	}
	for _, want := range []string{"LOG_TLS_NEGOTIATION_FAILED", "QUEUE_TLS_FAILURE", "CONNECTOR_SELECTS_KEYLESS_CERT", "CERT_DUPLICATE_IDENTITY"} {
		if codes[want] != roleSymptom {
			t.Errorf("member %s role %q, want symptom (members %v)", want, codes[want], codes)
		}
	}
	if codes["CERT_NO_PRIVATE_KEY"] != roleRoot {
		t.Errorf("CERT_NO_PRIVATE_KEY role %q", codes["CERT_NO_PRIVATE_KEY"])
	}
	if len(inc.GetFingerprint()) != 64 || strings.ToLower(inc.GetFingerprint()) != inc.GetFingerprint() {
		t.Errorf("fingerprint %q", inc.GetFingerprint())
	}
	if strings.Contains(inc.GetSubject(), "ams-edge02") {
		t.Errorf("subject %q names the observing agent", inc.GetSubject())
	}
	t.Logf("seed incident:\n%s  fix: %s\n  direction: %s", dump(incs), inc.GetRemediation(), inc.GetDirectionDetail())
}
