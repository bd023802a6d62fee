package checks

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/report"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// hybridInboundSpec is an Edge server whose hybrid receive connector lost
// its TlsCertificateName: the store holds the CA-issued certificate for
// mail.contoso.com and Exchange's self-signed CN=EDGE01 certificate (SANs
// EDGE01, edge01.contoso.com); the connector's Fqdn edge01.contoso.com
// matches only the self-signed one. When exoSessions, the receive protocol
// log shows Exchange Online's outbound front ends being sent that
// self-signed certificate (failure E/H).
func hybridInboundSpec(t *testing.T, exoSessions bool) (Spec, *lab.Issued) {
	t.Helper()
	ca := newCA(t)
	dir := tempdir.New(t)
	store := filepath.Join(dir, "store")
	good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", DNSNames: []string{"mail.contoso.com", "autodiscover.contoso.com"}, ServerAuth: true, ClientAuth: true})
	self := mustIssue(t, ca, lab.IssueOptions{CommonName: "EDGE01", DNSNames: []string{"EDGE01", "edge01.contoso.com"}, SelfSigned: true})
	writeIssued(t, store, "mail", good, true)
	writeIssued(t, store, "edge01-selfsigned", self, true)
	cfg := exchangetest.SeedConfig(good.Cert, self.Thumbprint())
	cfg.ReceiveConnectors = []exchange.ReceiveConnector{{
		Name: "Default internal receive connector EDGE01", Server: "EDGE01", Enabled: true,
		Bindings: []string{"0.0.0.0:25", "[::]:25"}, Fqdn: "edge01.contoso.com",
		AuthMechanism: []string{"Tls", "ExchangeServer"}, TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"},
		ProtocolLoggingLevel: exchange.ProtocolLoggingVerbose, TransportRole: "HubTransport",
	}}
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, cfg); err != nil {
		t.Fatal(err)
	}
	var sessions []checktest.Session
	start := time.Date(2019, 5, 2, 7, 14, 0, 0, time.UTC)
	for i, front := range []string{"EUR05-AM6-obe.outbound.protection.outlook.com", "EUR03-DB5-obe.outbound.protection.outlook.com", "EUR05-VI1-obe.outbound.protection.outlook.com"} {
		s := checktest.Session{
			Connector: `EDGE01\Default internal receive connector EDGE01`, Local: "10.0.0.5:25", Remote: fmt.Sprintf("40.107.22.%d:4971%d", 51+i, i),
			Banner: front, Start: start.Add(time.Duration(i) * 7 * time.Minute),
			Caps: []string{"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "8BITMIME", "BINARYMIME", "CHUNKING"},
		}
		if exoSessions {
			s.SentThumbprint, s.SentSubject, s.SentIssuer = self.Thumbprint(), "CN=EDGE01", "CN=EDGE01"
		} else {
			s.SentThumbprint, s.SentSubject, s.SentIssuer = good.Thumbprint(), "CN=mail.contoso.com", "CN=mxprobe test CA"
		}
		sessions = append(sessions, s)
	}
	logs := filepath.Join(dir, "logs")
	if _, err := checktest.WriteFile(logs, "SmtpReceive/RECV20190502-1.log", checktest.ReceiveLog(sessions...)); err != nil {
		t.Fatal(err)
	}
	return Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: inv, ProtocolLogs: []string{logs}}, self
}

// Class 5: a receive connector without TlsCertificateName that the receive
// protocol log shows presenting the self-signed CN=EDGE01 certificate to
// Exchange Online is an error linked to that observation (exit 2), not a
// warning and exit 0; the self-signed certificate itself is not what to
// remove.
func TestHybridInboundSelfSignedToExchangeOnline(t *testing.T) {
	spec, self := hybridInboundSpec(t, true)
	res := runSpec(t, spec)
	fs := allFindings(res)
	logF := findingtest.Find(fs, finding.LogSelfSignedSent)
	if logF == nil {
		t.Fatalf("no %s: %v", finding.LogSelfSignedSent, codes(fs))
	}
	if logF.Severity != mxv1.Severity_SEVERITY_ERROR || logF.Evidence["thumbprint_sent"] != self.Thumbprint() || logF.Evidence["exchange_online_sessions"] != "3" {
		t.Errorf("log finding: %v %v", logF.Severity, logF.Evidence)
	}
	conn := findingtest.Find(fs, finding.ConnectorNoTLSCertName)
	if conn == nil {
		t.Fatalf("no %s: %v", finding.ConnectorNoTLSCertName, codes(fs))
	}
	if conn.Severity != mxv1.Severity_SEVERITY_ERROR {
		t.Errorf("connector finding %v, want ERROR: %s", conn.Severity, conn.Summary)
	}
	if !strings.Contains(conn.Summary, "protocol log shows it presented self-signed certificate "+self.Thumbprint()) {
		t.Errorf("connector summary does not say what the log shows: %s", conn.Summary)
	}
	if conn.Evidence["observed_thumbprint"] != self.Thumbprint() || conn.Evidence["severity_before_observation"] != "WARNING" {
		t.Errorf("connector evidence: %v", conn.Evidence)
	}
	if !explainedBy(logF, finding.ConnectorNoTLSCertName, conn.Subject) {
		t.Errorf("log finding not explained by the connector: %v", logF.ExplainedBy)
	}
	for _, f := range fs {
		if strings.Contains(f.Remediation, self.Thumbprint()+" | Remove-Item") || strings.Contains(f.Remediation, `My\`+self.Thumbprint()+" | Remove-Item") {
			t.Errorf("%s tells to remove the self-signed certificate: %s", f.Code, f.Remediation)
		}
	}
	if code := report.ExitCode(res); code != report.ExitFindings {
		t.Errorf("exit %d, want %d", code, report.ExitFindings)
	}
	for _, r := range res {
		if r.Check == "exchange_connectors" && r.Status != mxv1.CheckStatus_CHECK_STATUS_FAIL {
			t.Errorf("connector check status %v after the observation raised its finding", r.Status)
		}
	}
	// Linking again changes nothing (no repeated sentence, same severity).
	before := conn.Summary
	diagnose.Link(res)
	if conn.Summary != before || conn.Severity != mxv1.Severity_SEVERITY_ERROR {
		t.Errorf("relinking changed the finding: %q", conn.Summary)
	}
}

// The same connector whose log shows the CA-issued certificate reaching
// Exchange Online stays a warning: nothing was observed going wrong.
func TestHybridInboundCAIssuedSentStaysWarning(t *testing.T) {
	spec, _ := hybridInboundSpec(t, false)
	fs := allFindings(runSpec(t, spec))
	if f := findingtest.Find(fs, finding.LogSelfSignedSent); f != nil {
		t.Fatalf("unexpected %s: %s", f.Code, f.Summary)
	}
	conn := findingtest.Find(fs, finding.ConnectorNoTLSCertName)
	if conn == nil || conn.Severity != mxv1.Severity_SEVERITY_WARNING {
		t.Fatalf("connector finding: %v", conn)
	}
}

func codes(fs []*mxv1.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, finding.SeverityName(f.Severity)+" "+f.Code+" "+f.Subject)
	}
	return out
}
