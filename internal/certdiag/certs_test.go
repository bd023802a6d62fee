package certdiag

import (
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

func issue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func storeEntry(is *lab.Issued, withKey bool) certstore.Certificate {
	c := certstore.Certificate{Thumbprint: is.Thumbprint(), Cert: is.Cert, HasPrivateKey: withKey, Key: certstore.KeyAbsent, Source: "test"}
	if withKey {
		c.Key = certstore.KeyUsable
	}
	return c
}

// Class 2: a keyless CA certificate kept next to the server certificate is
// never a transport certificate; at most an informational finding, whether
// or not the connectors are known, and it joins no duplicate group.
func TestCACertificateIsNotATransportCertificate(t *testing.T) {
	ca, err := lab.NewCA("Contoso Root CA")
	if err != nil {
		t.Fatal(err)
	}
	inter := issue(t, ca, lab.IssueOptions{CommonName: "Contoso Issuing CA", IsCA: true,
		NotBefore: time.Now().AddDate(-3, 0, 0), NotAfter: time.Now().AddDate(0, 0, -1)}) // expired, too
	ica, err := inter.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	good := issue(t, ica, lab.IssueOptions{CommonName: "mail.contoso.com"})
	cfg := exchangetest.SeedConfig(good.Cert, "")
	for _, loc := range []string{"pemdir:/etc/ssl/mx", `windows:LocalMachine\My`} {
		inv := certstore.Contents{Location: loc, Certificates: []certstore.Certificate{storeEntry(good, true), storeEntry(inter, false)}}
		use, err := TransportUseOf(cfg, inv.Certificates, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for name, u := range map[string]TransportUse{"known": use, "unknown": {}} {
			fs := CertStoreFor(inv, u, Options{Host: "edge01"})
			if len(fs) != 1 || fs[0].Code != string(finding.CertCANotTransport) || fs[0].Severity != mxv1.Severity_SEVERITY_INFO || fs[0].Subject != inter.Thumbprint() {
				t.Fatalf("%s %s: findings %v", loc, name, fs)
			}
			personal := strings.Contains(fs[0].Remediation, "Intermediate Certification Authorities")
			if personal != strings.HasPrefix(loc, "windows:") || strings.Contains(fs[0].Remediation, "Remove-Item") {
				t.Errorf("%s: CA fix %q", loc, fs[0].Remediation)
			}
		}
	}
}

// Class 2: a keyless end-entity certificate is critical only when transport
// could select it; when the configuration shows no connector would, it is
// informational; when the configuration is unknown, a warning saying what to
// check.
func TestKeylessSeverityFollowsTransportUse(t *testing.T) {
	ca, err := lab.NewCA("Contoso CA")
	if err != nil {
		t.Fatal(err)
	}
	good := issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"})
	used := issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"}) // same identity, no key
	unused := issue(t, ca, lab.IssueOptions{CommonName: "intranet.contoso.com"})
	inv := certstore.Contents{Location: "pemdir:/x", Certificates: []certstore.Certificate{storeEntry(good, true), storeEntry(used, false), storeEntry(unused, false)}}
	use, err := TransportUseOf(exchangetest.SeedConfig(good.Cert, ""), inv.Certificates, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sev := func(fs []*mxv1.Finding, tp string) (*mxv1.Finding, mxv1.Severity) {
		for _, f := range findingtest.All(fs, finding.CertNoPrivateKey) {
			if f.Subject == tp {
				return f, f.Severity
			}
		}
		t.Fatalf("no CERT_NO_PRIVATE_KEY for %s in %v", tp, findingtest.Codes(fs))
		return nil, 0
	}
	fs := CertStoreFor(inv, use, Options{})
	if f, s := sev(fs, used.Thumbprint()); s != mxv1.Severity_SEVERITY_CRITICAL || f.Evidence["transport_candidate"] != "true" ||
		!strings.Contains(f.Evidence["selected_by"], "Outbound to Office 365") {
		t.Errorf("selectable keyless: %v %v", s, f.Evidence)
	}
	if f, s := sev(fs, unused.Thumbprint()); s != mxv1.Severity_SEVERITY_INFO || f.Evidence["transport_candidate"] != "false" ||
		strings.HasPrefix(f.Remediation, "On") || !strings.Contains(f.Summary, "mail flow does not depend on it") {
		t.Errorf("unselectable keyless: %v %q %q", s, f.Summary, f.Remediation)
	}
	fs = CertStore(inv, Options{})
	f, s := sev(fs, unused.Thumbprint())
	if s != mxv1.Severity_SEVERITY_WARNING || f.Evidence["transport_candidate"] != "unknown" || !strings.HasPrefix(f.Remediation, "Check whether a connector names") {
		t.Errorf("unknown use: %v %q", s, f.Remediation)
	}
	// Without the configuration the keyless twin of a keyed certificate
	// stays critical: any connector naming that identity may pick it.
	if f, s := sev(fs, used.Thumbprint()); s != mxv1.Severity_SEVERITY_CRITICAL || f.Evidence["keyed_twin"] != "true" {
		t.Errorf("keyless twin without configuration: %v %v", s, f.Evidence)
	}
	// The duplicate identity still says the keyless twin is the problem.
	if d := findingtest.All(fs, finding.CertDuplicateIdentity); len(d) != 1 || d[0].Severity != mxv1.Severity_SEVERITY_ERROR {
		t.Errorf("duplicate: %v", d)
	}
}

// Class 7: a store that yields no certificate is a finding, not "healthy".
func TestEmptyStoreIsAFinding(t *testing.T) {
	inv := certstore.Contents{Location: "pemdir:/srv/certs", Examined: 3,
		Problems: []certstore.Problem{{Source: "/srv/certs/a.pfx", Err: certstore.ErrPFXPassword}}}
	fs := CertStore(inv, Options{Host: "edge01"})
	if len(fs) != 2 {
		t.Fatalf("findings %v", findingtest.Codes(fs))
	}
	e := findingtest.Find(fs, finding.CertStoreEmpty)
	if e == nil || e.Severity != mxv1.Severity_SEVERITY_ERROR || e.Evidence["entries_examined"] != "3" || e.Evidence["unreadable_entries"] != "1" ||
		!strings.Contains(e.Summary, "nothing was checked") {
		t.Fatalf("empty store finding %v", e)
	}
	if findingtest.Find(fs, finding.CertEntryUnreadable) == nil {
		t.Fatal("the unreadable entry is still reported")
	}
	// Counts read as English: "1 entry examined", "1 unreadable entry".
	for _, tc := range []struct {
		examined int
		want     string
	}{{1, "(1 entry examined, 1 unreadable)"}, {0, "(1 unreadable entry)"}} {
		inv.Examined = tc.examined
		if e := findingtest.Find(CertStore(inv, Options{Host: "edge01"}), finding.CertStoreEmpty); e == nil || !strings.Contains(e.Summary, tc.want) {
			t.Errorf("examined %d: %v, want %q", tc.examined, e, tc.want)
		}
	}
}

// Class 8: an expired certificate whose renewal (same subject, valid, with
// key) is already in the store: the fix is to bind the renewal and remove
// the old one, not to renew.
func TestExpiredWithRenewalInStore(t *testing.T) {
	ca, err := lab.NewCA("Contoso CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: now.AddDate(-1, 0, -5), NotAfter: now.AddDate(0, 0, -5)})
	renewal := issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: now.AddDate(0, 0, -6)})
	for _, tc := range []struct {
		name      string
		renewal   certstore.Certificate
		isRenewal bool
	}{
		{"renewal with key", storeEntry(renewal, true), true},
		{"renewal without key", storeEntry(renewal, false), false},
	} {
		bound := storeEntry(old, true)
		bound.Services = []string{"IIS", "SMTP"} // the store says SMTP uses it
		inv := certstore.Contents{Location: "pemdir:/x", Certificates: []certstore.Certificate{bound, tc.renewal}}
		var exp *mxv1.Finding
		for _, f := range findingtest.All(CertStore(inv, Options{Host: "edge01"}), finding.CertExpired) {
			if f.Subject == old.Thumbprint() {
				exp = f
			}
		}
		if exp == nil {
			t.Fatalf("%s: no CERT_EXPIRED", tc.name)
		}
		if tc.isRenewal {
			if exp.Evidence["renewal_thumbprint"] != renewal.Thumbprint() || !strings.HasPrefix(exp.Remediation, "Do not renew") ||
				!strings.Contains(exp.Remediation, "Remove-ExchangeCertificate -Thumbprint "+old.Thumbprint()) ||
				!strings.Contains(exp.Remediation, "Enable-ExchangeCertificate -Thumbprint "+renewal.Thumbprint()) {
				t.Errorf("%s: %v fix %q", tc.name, exp.Evidence, exp.Remediation)
			}
		} else if exp.Evidence["renewal_thumbprint"] != "" || !strings.HasPrefix(exp.Remediation, "Renew") {
			t.Errorf("%s: keyless twin taken for a renewal: %q", tc.name, exp.Remediation)
		}
	}
}

// An expired certificate's fix reconfigures transport only where the
// evidence implicates transport: the store binds it to SMTP, or a
// connector selects it. With neither read, the finding says what to check
// at WARNING; where the configuration shows nothing selects it, it says
// mail flow does not depend on it and prescribes no SMTP binding.
func TestExpiredFixFollowsTheEvidence(t *testing.T) {
	ca, err := lab.NewCA("Contoso CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := issue(t, ca, lab.IssueOptions{CommonName: "Microsoft Exchange Server Auth Certificate", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -30)})
	for _, tc := range []struct {
		name     string
		services []string
		use      TransportUse
		severity mxv1.Severity
		prefix   string
		binds    bool // the fix prescribes Enable-ExchangeCertificate -Services SMTP
	}{
		{"bound to SMTP", []string{"SMTP"}, TransportUse{}, mxv1.Severity_SEVERITY_CRITICAL, "Renew", true},
		{"services unknown, connectors not read", nil, TransportUse{}, mxv1.Severity_SEVERITY_WARNING, "Check whether SMTP uses it", true},
		{"bound to IIS only, connectors not read", []string{"IIS"}, TransportUse{}, mxv1.Severity_SEVERITY_WARNING, "Check whether SMTP uses it", true},
		{"no connector selects it", []string{"SMTP"}, TransportUse{Known: true, By: map[string][]string{}}, mxv1.Severity_SEVERITY_WARNING, "Mail flow does not depend on it", false},
	} {
		c := storeEntry(old, true)
		c.Services = tc.services
		inv := certstore.Contents{Location: "windows:LocalMachine\\My", Certificates: []certstore.Certificate{c}}
		fs := findingtest.All(CertStoreFor(inv, tc.use, Options{Host: "edge01"}), finding.CertExpired)
		if len(fs) != 1 {
			t.Fatalf("%s: %d CERT_EXPIRED", tc.name, len(fs))
		}
		f := fs[0]
		if f.Severity != tc.severity || !strings.HasPrefix(f.Remediation, tc.prefix) {
			t.Errorf("%s: %v %q", tc.name, f.Severity, f.Remediation)
		}
		if got := strings.Contains(f.Remediation, "-Services SMTP"); got != tc.binds {
			t.Errorf("%s: fix binds SMTP %v, want %v: %q", tc.name, got, tc.binds, f.Remediation)
		}
		if tc.prefix == "Check whether SMTP uses it" && !strings.Contains(f.Remediation, "If SMTP uses it: Renew") {
			t.Errorf("%s: the fix for SMTP is not conditional on the check: %q", tc.name, f.Remediation)
		}
	}
}
