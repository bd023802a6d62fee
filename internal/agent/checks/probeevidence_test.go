package checks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// Live probes against lab servers that fail in the ways Exchange STARTTLS
// fails (docs/findings.md):
// each failure must be named by what the probe observed, and its fix must
// point at what that evidence implicates.

func probeFindings(t *testing.T, spec Spec) []*mxv1.Finding {
	t.Helper()
	var out []*mxv1.Finding
	for _, r := range runSpec(t, spec) {
		if r.Check == "smtp_probe" {
			out = append(out, r.GetFindings()...)
		}
	}
	return out
}

func probeCodes(fs []*mxv1.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetCode()+"/"+finding.SeverityName(f.GetSeverity()))
	}
	return out
}

func wantText(t *testing.T, f *mxv1.Finding, in string, frags ...string) {
	t.Helper()
	var text string
	switch in {
	case "summary":
		text = f.GetSummary()
	case "fix":
		text = f.GetRemediation()
	}
	for _, fr := range frags {
		if !strings.Contains(text, fr) {
			t.Errorf("%s %s lacks %q: %s", f.GetCode(), in, fr, text)
		}
	}
}

func rejectText(t *testing.T, f *mxv1.Finding, in string, frags ...string) {
	t.Helper()
	text := f.GetSummary()
	if in == "fix" {
		text = f.GetRemediation()
	}
	for _, fr := range frags {
		if strings.Contains(text, fr) {
			t.Errorf("%s %s says %q, which its evidence does not support: %s", f.GetCode(), in, fr, text)
		}
	}
}

// Class 1: handshakes that time out are not a capability claim. The server
// completes the first handshake and stalls those of the version probes
// (a rate limiter, or a loaded machine): nothing may say TLS 1.2 is
// unsupported, and nothing may prescribe SCHANNEL changes.
func TestTimedOutVersionProbesClaimNothing(t *testing.T) {
	ca := newCA(t)
	s := startLab(t, lab.StallRepeatHandshakes, ca)
	fs := probeFindings(t, Spec{Probes: []string{"smtp://" + s.Addr()}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 3 * time.Second})
	for _, c := range []finding.Code{finding.TLS12Unsupported, finding.TLSProtocolObsolete} {
		if f := findingtest.Find(fs, c); f != nil {
			t.Errorf("timed-out version probes produced %s: %s", c, f.GetSummary())
		}
	}
	for _, f := range fs {
		rejectText(t, f, "fix", "SCHANNEL")
	}
	// Control: a server that refuses TLS 1.2 and 1.3 with alerts while it
	// accepts TLS 1.0/1.1 is still reported.
	legacy := startLab(t, lab.LegacyTLS, ca)
	fs = probeFindings(t, Spec{Probes: []string{"smtp://" + legacy.Addr()}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 10 * time.Second})
	f := findingtest.Find(fs, finding.TLS12Unsupported)
	if f == nil {
		t.Fatalf("legacy server: no TLS12_UNSUPPORTED in %v", probeCodes(fs))
	}
	if !strings.Contains(f.GetEvidence()["refused_versions"], "TLS 1.2 refused") {
		t.Errorf("TLS12_UNSUPPORTED without the refusal as evidence: %v", f.GetEvidence())
	}
}

// Class 8 (and 1): each probe failure gets the code its evidence supports.
func TestProbeFailuresNamedByEvidence(t *testing.T) {
	ca := newCA(t)
	drip, err := lab.Start(context.Background(), lab.DripFeed, lab.ServerOptions{CA: ca, Hostname: "localhost", DripInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drip.Close() })
	cases := []struct {
		name    string
		addr    string
		code    finding.Code
		sev     mxv1.Severity
		summary []string
		fix     []string
		notFix  []string
	}{
		{"tarpit trickling its banner", drip.Addr(), finding.SMTPSlowBanner, mxv1.Severity_SEVERITY_WARNING,
			[]string{"bytes of its greeting"}, []string{"TCP connected", "tarpit"}, []string{"check DNS"}},
		{"silent after connect", startLab(t, lab.Silent, ca).Addr(), finding.SMTPSlowBanner, mxv1.Severity_SEVERITY_WARNING,
			[]string{"sent no greeting"}, []string{"DNS, routing and firewalls are not the problem"}, nil},
		{"SSH on the SMTP port", startLab(t, lab.NonSMTP, ca).Addr(), finding.SMTPProtocolError, mxv1.Severity_SEVERITY_ERROR,
			[]string{"an SSH server", "SSH-2.0-OpenSSH"}, []string{"not a conforming SMTP server"}, []string{"check DNS"}},
		{"invalid reply code", startLab(t, lab.InvalidBanner, ca).Addr(), finding.SMTPProtocolError, mxv1.Severity_SEVERITY_ERROR,
			[]string{"not SMTP", "999"}, nil, []string{"check DNS"}},
		{"over-long banner line", startLab(t, lab.HugeLine, ca).Addr(), finding.SMTPProtocolError, mxv1.Severity_SEVERITY_ERROR,
			[]string{"longer than SMTP allows"}, nil, []string{"check DNS"}},
		{"nothing listening", closedPort(t), finding.SMTPUnreachable, mxv1.Severity_SEVERITY_ERROR,
			[]string{"unreachable"}, []string{"DNS, routing and firewalls"}, nil},
		{"reset after STARTTLS", startLab(t, lab.ResetAfterStartTLS, ca).Addr(), finding.TLSHandshakeFailed, mxv1.Severity_SEVERITY_ERROR,
			[]string{"right after the ClientHello"}, []string{"First check the device", "firewall or IPS"}, nil},
		{"Cisco ASA inspect esmtp", startLab(t, lab.ESMTPInspection, ca).Addr(), finding.SMTPStartTLSNotOffered, mxv1.Severity_SEVERITY_ERROR,
			[]string{"XXXXXXXA", "Cisco ASA", "banner is masked"}, []string{"no inspect esmtp"}, []string{"Enable-ExchangeCertificate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := probeFindings(t, Spec{Probes: []string{"smtp://" + tc.addr}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 2 * time.Second})
			f := findingtest.Find(fs, tc.code)
			if f == nil {
				t.Fatalf("want %s, got %v", tc.code, probeCodes(fs))
			}
			if f.GetSeverity() != tc.sev {
				t.Errorf("%s severity %s, want %s", tc.code, finding.SeverityName(f.GetSeverity()), finding.SeverityName(tc.sev))
			}
			wantText(t, f, "summary", tc.summary...)
			wantText(t, f, "fix", tc.fix...)
			rejectText(t, f, "fix", tc.notFix...)
			if tc.code != finding.SMTPUnreachable && findingtest.Find(fs, finding.SMTPUnreachable) != nil {
				t.Errorf("TCP connected, yet SMTP_UNREACHABLE: %v", probeCodes(fs))
			}
			for _, c := range []finding.Code{finding.TLS12Unsupported, finding.TLSProtocolObsolete} {
				if findingtest.Find(fs, c) != nil {
					t.Errorf("%s claimed without an accepted version: %v", c, probeCodes(fs))
				}
			}
		})
	}
}

// Class 4: a partner that refuses the certificate the agent presented as
// the send connector's is TLS_CLIENT_CERT_REJECTED naming that certificate,
// whether it says so in SMTP after the handshake (421 4.7.1) or with a TLS
// alert (unknown CA).
func TestPartnerRejectsConnectorCertificate(t *testing.T) {
	ca := newCA(t)
	dir := tempdir.New(t)
	cert := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", ClientAuth: true, ServerAuth: true})
	writeIssued(t, filepath.Join(dir, "store"), "good", cert, true)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(cert.Cert, cert.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	partnerCA := newCA(t) // the partner trusts another CA
	reply, err := lab.Start(context.Background(), lab.RejectClientCertReply, lab.ServerOptions{CA: ca, Hostname: "localhost", ClientCAs: partnerCA.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reply.Close() })
	alert, err := lab.Start(context.Background(), lab.RequireClientCert, lab.ServerOptions{CA: ca, Hostname: "localhost", ClientCAs: partnerCA.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = alert.Close() })
	for name, srv := range map[string]*lab.Server{"421 4.7.1 after the handshake": reply, "TLS alert": alert} {
		t.Run(name, func(t *testing.T) {
			fs := probeFindings(t, Spec{Probes: []string{"smtp://" + srv.Addr()}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 10 * time.Second,
				CertStores: []string{"pemdir:" + filepath.Join(dir, "store")}, ExchangeInventory: inv, ProbeSendConnector: "Outbound to Office 365"})
			f := findingtest.Find(fs, finding.TLSClientCertRejected)
			if f == nil {
				t.Fatalf("no TLS_CLIENT_CERT_REJECTED: %v", probeCodes(fs))
			}
			if findingtest.Find(fs, finding.SMTPProtocolError) != nil {
				t.Errorf("a certificate rejection reported as a protocol error too: %v", probeCodes(fs))
			}
			if f.GetSeverity() != mxv1.Severity_SEVERITY_ERROR {
				t.Errorf("severity %s", finding.SeverityName(f.GetSeverity()))
			}
			wantText(t, f, "summary", cert.Thumbprint(), "Outbound to Office 365", "mxprobe test CA")
			wantText(t, f, "fix", "TlsSenderCertificateName", "RestrictDomainsToCertificate", cert.Thumbprint())
			rejectText(t, f, "fix", "ESMTP inspection", "proxy")
			if ev := f.GetEvidence(); ev["client_cert_thumbprint"] != cert.Thumbprint() || ev["client_cert_issuer"] == "" {
				t.Errorf("evidence %v", ev)
			}
		})
	}
}
