package preflight

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type fixture struct {
	ca, otherCA *lab.CA
	old         *lab.Issued
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.NewCA("Fabrikam Public CA")
	if err != nil {
		t.Fatal(err)
	}
	old := issue(t, ca, lab.IssueOptions{NotBefore: now.AddDate(-1, 0, 10), NotAfter: now.AddDate(0, 0, 10)})
	return fixture{ca: ca, otherCA: other, old: old}
}

// issue mints mail.contoso.com (Exchange's usual renewal: same subject).
func issue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	if o.CommonName == "" {
		o.CommonName = "mail.contoso.com"
	}
	if o.DNSNames == nil {
		o.DNSNames = []string{"mail.contoso.com", "edge01.contoso.com"}
	}
	if !o.ServerAuth && !o.ClientAuth {
		o.ServerAuth, o.ClientAuth = true, true
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(1, 0, 0)
	}
	o.Organization = []string{"Contoso"}
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func entry(is *lab.Issued, key bool) certstore.Certificate {
	c := certstore.Certificate{Thumbprint: is.Thumbprint(), Cert: is.Cert, HasPrivateKey: key, Key: certstore.KeyAbsent, Source: `windows:LocalMachine\My`}
	if key {
		c.Key = certstore.KeyUsable
	}
	return c
}

func (f fixture) input(newCert *lab.Issued, key bool) Input {
	cfg := exchangetest.SeedConfig(f.old.Cert, f.old.Thumbprint())
	newContents := certstore.Contents{Location: "files:new.pfx", Certificates: []certstore.Certificate{entry(newCert, key)}}
	for _, c := range newCert.Chain {
		newContents.Certificates = append(newContents.Certificates, certstore.Certificate{Thumbprint: "CA" + c.Subject.CommonName, Cert: c})
	}
	return Input{
		Config:  cfg,
		Store:   certstore.Contents{Location: `windows:LocalMachine\My`, Certificates: []certstore.Certificate{entry(f.old, true)}},
		New:     newContents,
		NewFile: `new.pfx`,
		Diag:    certdiag.Options{Now: now, Host: "edge01.contoso.com"},
	}
}

func run(t *testing.T, in Input) Report {
	t.Helper()
	r, err := Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func check(r Report, id string, st Status) *Check {
	for i := range r.Checks {
		if r.Checks[i].ID == id && r.Checks[i].Status == st {
			return &r.Checks[i]
		}
	}
	return nil
}

// checkAbout is the first check with that id and status whose summary
// contains text.
func checkAbout(r Report, id string, st Status, text string) *Check {
	for i := range r.Checks {
		if c := r.Checks[i]; c.ID == id && c.Status == st && strings.Contains(c.Summary, text) {
			return &r.Checks[i]
		}
	}
	return nil
}

func dump(r Report) string {
	var b strings.Builder
	for _, c := range r.Connectors {
		b.WriteString(c.Name + " " + string(c.Outcome) + " " + strings.Join(c.NewCodes, ",") + " today=" + strings.Join(c.Today.Codes, ",") + " import=" + strings.Join(c.Import.Codes, ",") + " removal=" + strings.Join(c.Removal.Codes, ",") + "\n")
	}
	for _, c := range r.Checks {
		b.WriteString("  [" + string(c.Status) + "] " + c.ID + ": " + c.Summary + "\n")
	}
	for _, s := range r.Plan {
		b.WriteString("  step: " + s.Title + "\n    " + strings.Join(s.Commands, "\n    ") + "\n")
	}
	return b.String()
}

// A same-identity renewal with its key works on every connector, warns
// about the duplicate identity and plans the removal of the old one.
func TestRenewalSameIdentityWorks(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	r := run(t, f.input(n, true))
	if r.Breaks {
		t.Fatalf("predicted a break:\n%s", dump(r))
	}
	for _, c := range r.Connectors {
		if c.Outcome != Works {
			t.Errorf("%s: %s, want works\n%s", c.Name, c.Outcome, dump(r))
		}
		if c.Removal.Selected != n.Thumbprint() {
			t.Errorf("%s after removal uses %s, want the new %s", c.Name, c.Removal.Selected, n.Thumbprint())
		}
	}
	d := check(r, CheckDuplicate, Warn)
	if d == nil || !strings.Contains(d.Summary, "first match") || !strings.Contains(d.Summary, "latest-expiring match picks the new certificate") {
		t.Fatalf("duplicate-identity check: %+v\n%s", d, dump(r))
	}
	if k := check(r, CheckKey, Pass); k == nil || !strings.Contains(k.Detail, "-PrivateKeyExportable") {
		t.Errorf("key check does not say the import is non-exportable by default: %+v", k)
	}
	readable := false
	for _, s := range r.Plan {
		readable = readable || strings.Contains(s.Title, "Bind it to SMTP") && strings.Contains(s.Verify, "CERT_KEY_NOT_ACCESSIBLE for "+n.Thumbprint())
	}
	if !readable {
		t.Errorf("no plan step proves NETWORK SERVICE can read the key:\n%s", dump(r))
	}
	if check(r, CheckTLSName, Pass) == nil || check(r, CheckKey, Pass) == nil || check(r, CheckKeyUsage, Pass) == nil {
		t.Errorf("checks:\n%s", dump(r))
	}
	if e := check(r, CheckOldExpiry, Warn); e == nil || !strings.Contains(e.Summary, "10 days") {
		t.Errorf("old expiry: %+v\n%s", e, dump(r))
	}
	var plan string
	for _, s := range r.Plan {
		plan += strings.Join(s.Commands, "\n") + "\n"
	}
	for _, want := range []string{"Import-ExchangeCertificate", "Enable-ExchangeCertificate -Server 'edge01.contoso.com' -Thumbprint '" + n.Thumbprint() + "' -Services SMTP",
		"Restart-Service MSExchangeTransport", "Where-Object Thumbprint -eq '" + f.old.Thumbprint() + "' | Remove-Item"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "-TlsCertificateName") {
		t.Errorf("plan changes TlsCertificateName although it already designates the new certificate:\n%s", plan)
	}
}

// A renewal through another CA no longer matches TlsCertificateName: the
// connectors keep the old certificate and find none once it is removed.
func TestIssuerChangeBreaksTLSCertificateName(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.otherCA, lab.IssueOptions{})
	r := run(t, f.input(n, true))
	if !r.Breaks {
		t.Fatalf("no break predicted:\n%s", dump(r))
	}
	var send *Connector
	for i := range r.Connectors {
		if r.Connectors[i].Name == "Outbound to Office 365" {
			send = &r.Connectors[i]
		}
	}
	if send == nil || send.Outcome != Breaks || !slices.Contains(send.NewCodes, "CONNECTOR_CERT_NOT_FOUND") || send.Import.Selected != f.old.Thumbprint() || send.UsesNew {
		t.Fatalf("send connector %+v\n%s", send, dump(r))
	}
	c := check(r, CheckTLSName, Fail)
	if c == nil || !strings.Contains(c.Detail, "Set-SendConnector -Identity 'Outbound to Office 365' -TlsCertificateName '<I>") || !strings.Contains(c.Detail, "Fabrikam Public CA") {
		t.Fatalf("tls name check %+v\n%s", c, dump(r))
	}
	var sets int
	for _, s := range r.Plan {
		for _, cmd := range s.Commands {
			if strings.Contains(cmd, "-TlsCertificateName '<I>CN=Fabrikam Public CA") {
				sets++
			}
		}
	}
	if sets != 2 { // the send and the receive connector
		t.Errorf("plan sets TlsCertificateName %d times, want 2:\n%s", sets, dump(r))
	}
}

// A .cer without key breaks; the same .cer completing a request made on
// the server does not.
func TestKeylessImport(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	r := run(t, f.input(n, false))
	if !r.Breaks || check(r, CheckKey, Fail) == nil {
		t.Fatalf("keyless import not predicted to break:\n%s", dump(r))
	}
	broke := false
	for _, c := range r.Connectors {
		if c.Outcome == Breaks && slices.Contains(c.NewCodes, "CONNECTOR_SELECTS_KEYLESS_CERT") {
			broke = true
		}
	}
	if !broke {
		t.Errorf("no connector breaks with CONNECTOR_SELECTS_KEYLESS_CERT:\n%s", dump(r))
	}
	// Completing a request made on the server: without the request store
	// the key is as stated but not checked; with it, the placeholder of the
	// request with the certificate's public key proves it; a store without
	// one means the import is keyless.
	in := f.input(n, false)
	in.KeySource = KeyFromRequest
	if r := run(t, in); r.Breaks || check(r, CheckKey, NotChecked) == nil {
		t.Fatalf("request-completing .cer, request store not read:\n%s", dump(r))
	}
	placeholder := certstore.Certificate{Thumbprint: "9F1C0000000000000000000000000000000000AA", Cert: &x509.Certificate{RawSubjectPublicKeyInfo: n.Cert.RawSubjectPublicKeyInfo},
		HasPrivateKey: true, Key: certstore.KeyUsable, Source: `windows:LocalMachine\REQUEST`}
	unrelated := entry(issue(t, f.ca, lab.IssueOptions{}), true)
	in.Requests = &RequestStore{URI: `windows:LocalMachine\REQUEST`, Entries: []certstore.Certificate{unrelated, placeholder}}
	r = run(t, in)
	if c := check(r, CheckKey, Pass); r.Breaks || c == nil || !strings.Contains(c.Summary, "pending request 9F1C") {
		t.Fatalf("request-completing .cer with its request:\n%s", dump(r))
	}
	in.Requests.Entries = []certstore.Certificate{unrelated}
	r = run(t, in)
	if c := check(r, CheckKey, Fail); !r.Breaks || c == nil || !strings.Contains(c.Summary, `no pending request in windows:LocalMachine\REQUEST holds its key`) {
		t.Fatalf("request-completing .cer without its request:\n%s", dump(r))
	}
	// From an Export-Clixml of Cert:\LocalMachine\REQUEST the key's state
	// is not known: the request is there, the key not proven.
	placeholder.Key = certstore.KeyUnknown
	in.Requests.Entries = []certstore.Certificate{placeholder}
	if r := run(t, in); r.Breaks || checkAbout(r, CheckKey, NotChecked, "does not say whether its key is still there") == nil {
		t.Fatalf("request whose key state is unknown:\n%s", dump(r))
	}
	// A PFX with its key given with --key-source request: the file's key counts.
	keyed := f.input(n, true)
	keyed.KeySource, keyed.Requests = KeyFromRequest, nil
	if r := run(t, keyed); check(r, CheckKey, Pass) == nil {
		t.Fatalf("PFX with its key and --key-source request:\n%s", dump(r))
	}
	placeholder.Key, placeholder.KeyDetail = certstore.KeyUnusable, "NTE_BAD_KEYSET"
	in.Requests.Entries = []certstore.Certificate{placeholder}
	if r := run(t, in); !r.Breaks || checkAbout(r, CheckKey, Fail, "NTE_BAD_KEYSET") == nil {
		t.Fatalf("request whose key is unusable:\n%s", dump(r))
	}
}

// A SAN list that drops a name the old certificate covered fails.
func TestSANDropsName(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.input(issue(t, f.ca, lab.IssueOptions{DNSNames: []string{"mail.contoso.com"}}), true))
	c := check(r, CheckNames, Fail)
	if !r.Breaks || c == nil || !strings.Contains(c.Summary, "edge01.contoso.com") {
		t.Fatalf("dropped SAN not reported: %+v\n%s", c, dump(r))
	}
}

// TlsSenderCertificateName comes from the inventory's Exchange Online
// inbound connectors; a value given by the caller overrides it; Partner
// connectors are not about this server; without either the check is not
// done (never a pass) on a server that sends to Exchange Online.
func TestSenderNameFromInventory(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	in := f.input(n, true)
	r := run(t, in)
	if c := checkAbout(r, CheckNames, NotChecked, "TlsSenderCertificateName"); c == nil || checkAbout(r, CheckNames, Pass, "TlsSenderCertificateName") != nil {
		t.Fatalf("without an inbound connector export: %+v\n%s", c, dump(r))
	}
	if !strings.Contains(r.Inputs[0].Error, "Get-InboundConnector") {
		t.Errorf("inputs %+v", r.Inputs)
	}
	in.Config.InboundConnectors = []exchange.InboundConnector{
		{Name: "Inbound from 2f1e", Enabled: true, ConnectorType: "OnPremises", TlsSenderCertificateName: "mail.contoso.com"},
		{Name: "Partner Fabrikam", Enabled: true, ConnectorType: "Partner", TlsSenderCertificateName: "mx.fabrikam.com"},
		{Name: "Old hybrid", Enabled: false, ConnectorType: "OnPremises", TlsSenderCertificateName: "legacy.contoso.com"},
	}
	r = run(t, in)
	if c := checkAbout(r, CheckNames, Pass, "Inbound from 2f1e TlsSenderCertificateName mail.contoso.com (connector export"); c == nil || strings.Contains(dump(r), "fabrikam") || strings.Contains(dump(r), "legacy") {
		t.Fatalf("inventory value:\n%s", dump(r))
	}
	if r.Breaks {
		t.Fatalf("covered name predicted to break:\n%s", dump(r))
	}
	in.Config.InboundConnectors[0].TlsSenderCertificateName = "smtp.contoso.com"
	r = run(t, in)
	if c := checkAbout(r, CheckNames, Fail, "550 5.7.51"); !r.Breaks || c == nil || !strings.Contains(c.Summary, "connector export") {
		t.Fatalf("uncovered inventory value not failed: %+v\n%s", c, dump(r))
	}
	in.Config.InboundConnectors[0].TlsSenderCertificateName = "*.contoso.com"
	if r := run(t, in); r.Breaks || check(r, CheckNames, Fail) != nil {
		t.Fatalf("*.contoso.com not covered by mail.contoso.com:\n%s", dump(r))
	}
	// The override wins over the inventory and says so.
	in.SenderNames = []SenderName{{Value: "smtp.contoso.com", Origin: FromFlag, Where: "--tls-sender-certificate-name"}}
	r = run(t, in)
	if c := checkAbout(r, CheckNames, Fail, "(flag: --tls-sender-certificate-name)"); c == nil {
		t.Fatalf("override: %+v\n%s", c, dump(r))
	}
}

// MTA-STS policies as fetched: a pattern the new certificate matches
// passes; one only the old certificate matched fails under enforce (warns
// under testing); a policy that could not be read, or none read at all, is
// not checked.
func TestMTASTSPolicies(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	in := f.input(n, true)
	if c := checkAbout(run(t, in), CheckNames, NotChecked, "MTA-STS"); c == nil {
		t.Fatalf("no policies read but not reported as not checked")
	}
	url := "https://mta-sts.contoso.com/.well-known/mta-sts.txt"
	in.MTASTS = []MTASTSPolicy{{Domain: "contoso.com", Origin: Fetched, Where: url, Mode: "enforce", MX: []string{"*.contoso.com"}}}
	r := run(t, in)
	if c := checkAbout(r, CheckNames, Pass, "MTA-STS policy of contoso.com (fetched: "+url+"): mx: *.contoso.com is matched by"); c == nil {
		t.Fatalf("matching policy:\n%s", dump(r))
	}
	// The renewal drops edge01.contoso.com, the only name the policy lists.
	dropped := f.input(issue(t, f.ca, lab.IssueOptions{DNSNames: []string{"mail.contoso.com"}, CommonName: "mail.contoso.com"}), true)
	dropped.MTASTS = []MTASTSPolicy{{Domain: "contoso.com", Origin: Fetched, Where: url, Mode: "enforce", MX: []string{"edge01.contoso.com"}}}
	r = run(t, dropped)
	var mtaFail *Check
	for i, c := range r.Checks {
		if c.Status == Fail && strings.Contains(c.Summary, "MTA-STS") {
			mtaFail = &r.Checks[i]
		}
	}
	if mtaFail == nil || !strings.Contains(mtaFail.Summary, "stop delivering") {
		t.Fatalf("enforced pattern lost by the renewal not failed:\n%s", dump(r))
	}
	dropped.MTASTS[0].Mode = "testing"
	for _, c := range run(t, dropped).Checks {
		if c.Status == Fail && strings.Contains(c.Summary, "MTA-STS") {
			t.Fatalf("testing-mode policy failed: %+v", c)
		}
	}
	in.MTASTS = []MTASTSPolicy{
		{Domain: "contoso.com", Origin: Fetched, Where: url, Err: "mtasts: policy host certificate not valid"},
		{Domain: "fabrikam.com", Origin: Fetched, NoPolicy: true},
	}
	r = run(t, in)
	if c := checkAbout(r, CheckNames, NotChecked, "not checked: MTA-STS policy of contoso.com"); c == nil || !strings.Contains(c.Summary, "not valid") {
		t.Fatalf("unreadable policy: %+v\n%s", c, dump(r))
	}
	for _, c := range r.Checks {
		if c.Status == Pass && strings.Contains(c.Summary, "MTA-STS") {
			t.Fatalf("unreadable policy reported as a pass: %+v", c)
		}
	}
	if checkAbout(r, CheckNames, Info, "fabrikam.com publishes no MTA-STS policy") == nil {
		t.Errorf("no policy:\n%s", dump(r))
	}
}

// TLSA records that pin only the old key: publish before switching.
func TestTLSANotYetPublished(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	oldRec, _ := dane.RecordFor(f.old.Cert, 3, dane.SelectorSPKI, dane.MatchingSHA256)
	newRec, _ := dane.RecordFor(n.Cert, 3, dane.SelectorSPKI, dane.MatchingSHA256)
	in := f.input(n, true)
	in.TLSA = []TLSA{{Host: "mail.contoso.com", Records: []dane.Record{oldRec}}}
	r := run(t, in)
	c := check(r, CheckDANE, Fail)
	if !r.Breaks || c == nil || !strings.Contains(c.Detail, TLSAValue(newRec)[6:]) {
		t.Fatalf("unpublished TLSA not failed: %+v\n%s", c, dump(r))
	}
	if len(r.Plan) == 0 || !strings.Contains(r.Plan[0].Title, "Publish") || !strings.Contains(r.Plan[0].Commands[0], "_25._tcp.mail.contoso.com. IN TLSA 3 1 1 ") {
		t.Errorf("plan does not publish first:\n%s", dump(r))
	}
	in.TLSA = []TLSA{{Host: "mail.contoso.com", Records: []dane.Record{oldRec, newRec}}}
	if r := run(t, in); r.Breaks || check(r, CheckDANE, Pass) == nil {
		t.Fatalf("published TLSA still failed:\n%s", dump(r))
	}
}

// Exchange Online authenticates the send connector with the certificate:
// without clientAuth in the EKU the renewal fails; weak keys fail too.
func TestKeyUsageAndStrength(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.input(issue(t, f.ca, lab.IssueOptions{ServerAuth: true}), true))
	if c := check(r, CheckKeyUsage, Fail); !r.Breaks || c == nil || !strings.Contains(c.Summary, "clientAuth") {
		t.Fatalf("missing clientAuth not failed:\n%s", dump(r))
	}
	r = run(t, f.input(issue(t, f.ca, lab.IssueOptions{KeyType: lab.KeyRSA, RSABits: 1024}), true))
	if c := check(r, CheckKeyStrength, Fail); c == nil || !strings.Contains(c.Summary, "1024") {
		t.Fatalf("1024-bit key not failed:\n%s", dump(r))
	}
	r = run(t, f.input(issue(t, f.ca, lab.IssueOptions{KeyType: lab.KeyRSA}), true))
	if check(r, CheckKeyStrength, Pass) == nil {
		t.Fatalf("RSA 2048 not passed:\n%s", dump(r))
	}
}

// The chain is complete when the file carries it; a leaf whose issuer is
// nowhere is reported.
func TestChainCompleteness(t *testing.T) {
	f := newFixture(t)
	n := issue(t, f.ca, lab.IssueOptions{})
	if r := run(t, f.input(n, true)); check(r, CheckChain, Pass) == nil {
		t.Fatalf("chain in the file not found:\n%s", dump(r))
	}
	in := f.input(n, true)
	in.New.Certificates = in.New.Certificates[:1]
	if r := run(t, in); check(r, CheckChain, Warn) == nil {
		t.Fatalf("missing chain not reported:\n%s", dump(r))
	}
}

// The duplicate-identity trap appears only when old and new share issuer
// and subject; the old certificate's expiry says when the first failure
// comes without the renewal.
func TestDuplicateIdentityAndOldExpiry(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.input(issue(t, f.otherCA, lab.IssueOptions{}), true))
	if check(r, CheckDuplicate, Warn) != nil {
		t.Errorf("duplicate identity reported for a certificate of another issuer:\n%s", dump(r))
	}
	expired := newFixture(t)
	expired.old = issue(t, expired.ca, lab.IssueOptions{NotBefore: now.AddDate(-1, 0, -1), NotAfter: now.AddDate(0, 0, -1)})
	r = run(t, expired.input(issue(t, expired.ca, lab.IssueOptions{}), true))
	if c := check(r, CheckOldExpiry, Fail); c == nil || !strings.Contains(c.Summary, "already expired") {
		t.Errorf("expired old certificate not failed:\n%s", dump(r))
	}
	fixedSome := false
	for _, c := range r.Connectors {
		if c.Outcome == Fixed {
			fixedSome = true
		}
	}
	if !fixedSome {
		t.Errorf("renewing an expired certificate fixes no connector:\n%s", dump(r))
	}
}

// The removal step names the store the old certificate was read from.
func TestRemovalNamesTheStore(t *testing.T) {
	for src, want := range map[string]string{
		`windows:LocalMachine\My`:             `Cert:\LocalMachine\My`,
		`windows:LocalMachine\WebHosting`:     `Cert:\LocalMachine\WebHosting`,
		`windows:LocalMachine\Remote Desktop`: `'Cert:\LocalMachine\Remote Desktop'`,
		`windows:LocalMachine\O'Brien`:        `'Cert:\LocalMachine\O''Brien'`,
		`snapshot:edge01-store.json`:          `Cert:\LocalMachine\My`,
		`pemdir:/etc/mxprobe/store`:           `Cert:\LocalMachine\My`,
	} {
		if got := storePath(certstore.Certificate{Source: src}); got != want {
			t.Errorf("%s: %s, want %s", src, got, want)
		}
	}
}

// A renewal issued by an intermediate the file does not carry: complete
// when the server's CA and Root stores hold the chain (the links name
// where they were found), incomplete without them, and the summary says
// which stores were not read.
func TestChainFromServerStores(t *testing.T) {
	f := newFixture(t)
	ic, err := f.ca.Issue(lab.IssueOptions{CommonName: "Contoso Intermediate CA", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ic.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	n := issue(t, inter, lab.IssueOptions{})
	in := f.input(n, true)
	in.New.Certificates = in.New.Certificates[:1] // the leaf only
	c := check(run(t, in), CheckChain, Warn)
	if c == nil || !strings.Contains(c.Summary, "Contoso Intermediate CA") || !strings.Contains(c.Summary, "CA and Root stores were not read") {
		t.Fatalf("without the server's stores: %+v", c)
	}
	in.ChainStores = []ChainStore{{URI: `windows:LocalMachine\CA`, Certs: []*x509.Certificate{ic.Cert}}, {URI: `windows:LocalMachine\Root`, Certs: []*x509.Certificate{f.ca.Cert}}}
	r := run(t, in)
	c = check(r, CheckChain, Pass)
	if c == nil || !strings.Contains(c.Summary, `Contoso Intermediate CA (windows:LocalMachine\CA) <- Contoso Issuing CA (windows:LocalMachine\Root)`) {
		t.Fatalf("with the server's stores: %+v\n%s", c, dump(r))
	}
	// The 2 1 1 value is the intermediate's, found in the CA store.
	ta, _ := dane.RecordFor(ic.Cert, 2, dane.SelectorSPKI, dane.MatchingSHA256)
	if d := checkAbout(r, CheckDANE, NotChecked, ta.String()); d == nil {
		t.Errorf("2 1 1 of the intermediate not listed:\n%s", dump(r))
	}
	in.ChainStores = []ChainStore{{URI: `windows:LocalMachine\CA`, Err: "access denied"}}
	if c := check(run(t, in), CheckChain, Warn); c == nil || !strings.Contains(c.Summary, `not read: windows:LocalMachine\CA (access denied)`) {
		t.Fatalf("unreadable store: %+v", c)
	}
}
