package checks

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// orderedPair issues two certificates with the same issuer and subject such
// that first sorts before second in the store (a pemdir enumerates by
// thumbprint), retrying with fresh keys until it does.
func orderedPair(t *testing.T, ca *lab.CA, first, second lab.IssueOptions) (*lab.Issued, *lab.Issued) {
	t.Helper()
	for range 64 {
		a, b := mustIssue(t, ca, first), mustIssue(t, ca, second)
		if a.Thumbprint() < b.Thumbprint() {
			return a, b
		}
	}
	t.Fatal("no ordered pair in 64 tries")
	return nil, nil
}

// Class 6: CONNECTOR_CERT_AMBIGUOUS's simulated pick (the first match in
// the store as read: the keyed certificate) disagrees with the send protocol
// log, which shows the keyless duplicate was sent. The finding follows the
// log and says which rule the observation matches.
func TestAmbiguousFollowsProtocolLog(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name          string
		keylessExpiry time.Time
		rule          string
	}{
		{"keyless duplicate expires last", now.AddDate(2, 0, 0), "this build picks the latest-expiring match, not the first"},
		{"keyless duplicate matches no rule", now.AddDate(0, 6, 0), "it matches no selection rule on the store as read here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t)
			org := []string{"Contoso"}
			keyed, keyless := orderedPair(t, ca,
				lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0), ServerAuth: true, ClientAuth: true},
				lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, 0, -2), NotAfter: tc.keylessExpiry, ServerAuth: true, ClientAuth: true})
			dir := tempdir.New(t)
			store := filepath.Join(dir, "store")
			writeIssued(t, store, "keyed", keyed, true)
			writeIssued(t, store, "keyless", keyless, false)
			inv := filepath.Join(dir, "inv.json")
			if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(keyed.Cert, keyed.Thumbprint())); err != nil {
				t.Fatal(err)
			}
			logs := filepath.Join(dir, "logs")
			if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(
				checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: keyless.Thumbprint(), SentSubject: "CN=mail.contoso.com, O=Contoso", Failure: "NoCredentials"},
				checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: keyless.Thumbprint(), SentSubject: "CN=mail.contoso.com, O=Contoso", Failure: "NoCredentials"})); err != nil {
				t.Fatal(err)
			}
			res := runSpec(t, Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: inv, ProtocolLogs: []string{logs}})
			fs := allFindings(res)
			var amb *mxv1.Finding
			for _, f := range fs {
				if f.Code == string(finding.ConnectorCertAmbiguous) && f.Evidence["connector_kind"] == "send" {
					amb = f
				}
			}
			if amb == nil || findingtest.Find(fs, finding.LogUnexpectedCertSent) == nil {
				t.Fatalf("want %s and %s: %v", finding.ConnectorCertAmbiguous, finding.LogUnexpectedCertSent, codes(fs))
			}
			if strings.Contains(amb.Summary, "transport picks "+keyed.Thumbprint()) {
				t.Errorf("simulation still wins: %s", amb.Summary)
			}
			want := "the send protocol log shows " + keyless.Thumbprint() + " was sent"
			if !strings.Contains(amb.Summary, want) || !strings.Contains(amb.Summary, tc.rule) {
				t.Errorf("summary %q lacks %q / %q", amb.Summary, want, tc.rule)
			}
			if amb.Evidence["selected_thumbprint"] != keyless.Thumbprint() || amb.Evidence["simulated_thumbprint"] != keyed.Thumbprint() {
				t.Errorf("evidence: %v", amb.Evidence)
			}
			if !strings.Contains(amb.Remediation, "keep "+keyed.Thumbprint()) {
				t.Errorf("remediation must keep the keyed certificate: %s", amb.Remediation)
			}
			before := amb.Summary
			diagnose.Link(res)
			if amb.Summary != before {
				t.Errorf("relinking changed the summary:\n%s\n%s", before, amb.Summary)
			}
		})
	}
}

// liveAmbiguous runs the checks on a store holding two localhost
// certificates (first's and second's validity; first is first in the
// store) that the receive connector's TlsCertificateName both match, the
// configuration written for second, and a live probe of a server that
// presents first. It returns the results, the server's address and both.
func liveAmbiguous(t *testing.T, first, second lab.IssueOptions) ([]*mxv1.CheckResult, string, *lab.Issued, *lab.Issued) {
	t.Helper()
	ca := newCA(t)
	for _, o := range []*lab.IssueOptions{&first, &second} {
		o.CommonName, o.Organization, o.ServerAuth = "localhost", []string{"Contoso"}, true
	}
	a, b := orderedPair(t, ca, first, second)
	srv, err := lab.Start(t.Context(), lab.Good, lab.ServerOptions{CA: ca, Hostname: "localhost", Certificate: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dir := tempdir.New(t)
	store := filepath.Join(dir, "store")
	writeIssued(t, store, "first", a, true)
	writeIssued(t, store, "second", b, true)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(b.Cert, b.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	res := runSpec(t, Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: inv, Probes: []string{"smtp://" + srv.Addr()},
		CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 10 * time.Second})
	return res, srv.Addr(), a, b
}

// Class 6, live: a receive connector's TlsCertificateName matches an
// expired and a renewed certificate; the simulation picks the newest, but
// a STARTTLS handshake with the server presents the expired one, which is
// first in the store: the finding follows the handshake.
func TestAmbiguousFollowsLiveHandshake(t *testing.T) {
	now := time.Now()
	res, addr, old, renewed := liveAmbiguous(t,
		lab.IssueOptions{NotBefore: now.AddDate(-1, 0, -10), NotAfter: now.AddDate(0, 0, -10)},
		lab.IssueOptions{NotBefore: now.AddDate(0, 0, -12), NotAfter: now.AddDate(1, 0, -12)})
	var amb *mxv1.Finding
	for _, f := range allFindings(res) {
		if f.Code == string(finding.ConnectorCertAmbiguous) && f.Evidence["connector_kind"] == "receive" {
			amb = f
		}
	}
	if amb == nil {
		t.Fatalf("no receive %s: %v", finding.ConnectorCertAmbiguous, codes(allFindings(res)))
	}
	want := "a live STARTTLS handshake with " + addr + " presented " + old.Thumbprint() + "; this build picks the first match, not the newest"
	if !strings.Contains(amb.Summary, want) {
		t.Errorf("summary %q lacks %q; %v", amb.Summary, want, codes(allFindings(res)))
	}
	if amb.Evidence["selected_thumbprint"] != old.Thumbprint() || amb.Evidence["simulated_thumbprint"] != renewed.Thumbprint() {
		t.Errorf("evidence: %v", amb.Evidence)
	}
}

// Class 6, the other way round: the simulation picks the keyless duplicate
// (first in the store as read), but the send protocol log shows the keyed
// certificate presented in the latest sessions, TLS negotiated. The
// ambiguous finding follows the log, the "would present a keyless
// certificate" finding becomes a warning that says what transport does now
// and when that may change; the fix (remove the keyless one) stays.
// keyedSentSpec: the keyless duplicate first in the store, the keyed
// certificate (latest-expiring) second, and a send log of the keyed one.
func keyedSentSpec(t *testing.T) (Spec, *lab.Issued, *lab.Issued) {
	t.Helper()
	now := time.Now()
	ca := newCA(t)
	org := []string{"Contoso"}
	keyless, keyed := orderedPair(t, ca,
		lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(1, 0, 0), ServerAuth: true, ClientAuth: true},
		lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(2, 0, 0), ServerAuth: true, ClientAuth: true})
	dir := tempdir.New(t)
	store := filepath.Join(dir, "store")
	writeIssued(t, store, "keyed", keyed, true)
	writeIssued(t, store, "keyless", keyless, false)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(keyed.Cert, keyed.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: keyed.Thumbprint(), SentSubject: "CN=mail.contoso.com, O=Contoso"},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: keyed.Thumbprint(), SentSubject: "CN=mail.contoso.com, O=Contoso"})); err != nil {
		t.Fatal(err)
	}
	return Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: inv, ProtocolLogs: []string{logs}}, keyed, keyless
}

func TestSimulatedKeylessButLogShowsKeyedSent(t *testing.T) {
	spec, keyed, keyless := keyedSentSpec(t)
	res := runSpec(t, spec)
	var amb, sel, obs *mxv1.Finding
	for _, f := range allFindings(res) {
		if f.Evidence["connector_kind"] == "receive" {
			continue
		}
		switch f.Code {
		case string(finding.ConnectorCertAmbiguous):
			amb = f
		case string(finding.ConnectorSelectsKeyless):
			sel = f
		case string(finding.LogCertSent):
			obs = f
		}
	}
	if amb == nil || sel == nil || obs == nil {
		t.Fatalf("want ambiguous, selects-keyless and the log observation: %v", codes(allFindings(res)))
	}
	if !strings.Contains(amb.Summary, "the send protocol log shows "+keyed.Thumbprint()+" was sent") || !strings.Contains(amb.Summary, "this build picks the latest-expiring match, not the first") {
		t.Errorf("ambiguous: %s", amb.Summary)
	}
	if sel.Severity != mxv1.Severity_SEVERITY_WARNING || sel.Evidence["severity_before_observation"] != "CRITICAL" || !strings.Contains(sel.Summary, "transport presents it now") {
		t.Errorf("selects keyless: %v %s", sel.Severity, sel.Summary)
	}
	if !strings.Contains(sel.Remediation, keyless.Thumbprint()) {
		t.Errorf("the fix must still remove the keyless certificate: %s", sel.Remediation)
	}
	if obs.Severity != mxv1.Severity_SEVERITY_INFO {
		t.Errorf("observation severity %v", obs.Severity)
	}
	before := sel.Summary
	diagnose.Link(res)
	if sel.Summary != before || sel.Severity != mxv1.Severity_SEVERITY_WARNING {
		t.Errorf("relinking changed it: %s", sel.Summary)
	}
}

// Class 6, live and healthy: the probe finds nothing wrong with what the
// server presents (the older of two valid matches, first in the store), so
// there is no presented-certificate finding; the handshake itself is the
// observation the ambiguous receive connector follows.
func TestAmbiguousFollowsHealthyHandshake(t *testing.T) {
	now := time.Now()
	res, addr, older, _ := liveAmbiguous(t,
		lab.IssueOptions{NotBefore: now.AddDate(0, -6, 0), NotAfter: now.AddDate(1, 0, 0)},
		lab.IssueOptions{NotBefore: now.AddDate(0, 0, -3), NotAfter: now.AddDate(1, 6, 0)})
	var amb *mxv1.Finding
	for _, r := range res {
		if r.Check == "smtp_probe" && (len(r.Findings) != 0 || r.GetTls().GetLeafThumbprint() != older.Thumbprint()) {
			t.Fatalf("probe: %v, tls %v", r.Findings, r.GetTls())
		}
		for _, f := range r.Findings {
			if f.Code == string(finding.ConnectorCertAmbiguous) && f.Evidence["connector_kind"] == "receive" {
				amb = f
			}
		}
	}
	if amb == nil {
		t.Fatal("no receive CONNECTOR_CERT_AMBIGUOUS")
	}
	want := "a live STARTTLS handshake with " + addr + " presented " + older.Thumbprint() + "; this build picks the first match, not the newest"
	if !strings.Contains(amb.Summary, want) || amb.Evidence["selected_thumbprint"] != older.Thumbprint() {
		t.Errorf("summary %q lacks %q (evidence %v)", amb.Summary, want, amb.Evidence)
	}
}
