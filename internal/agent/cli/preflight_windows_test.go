//go:build windows

package cli

import (
	"crypto/rsa"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/agent/certread/winseed"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/preflight"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// agent preflight on a real Windows certificate store, read through
// crypt32 by the windows: backend (on Windows, and in CI under Wine 8:
// scripts/wine/test.sh). The store is the seed incident's: the keyed
// original and a keyless duplicate with the same issuer and subject, put in
// through crypt32 by winseed. It is a scratch system store
// (LocalMachine\mxprobe-test-<random>, deleted afterwards) rather than
// LocalMachine\My itself, so the test leaves a real machine's My alone and
// runs in parallel with the other store tests; the backend reads both the
// same way (CertOpenStore of a LocalMachine system store), and the plan must
// name the store it read.
type winSeed struct {
	store          *winseed.Store
	ca             *lab.CA
	good, keyless  *lab.Issued
	inventory, dir string
}

func seedWindowsStore(t *testing.T) winSeed {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(o lab.IssueOptions) *lab.Issued {
		o.CommonName, o.Organization, o.DNSNames = "mail.contoso.com", []string{"Contoso"}, []string{"mail.contoso.com", "edge01.contoso.com"}
		o.ServerAuth, o.ClientAuth, o.KeyType = true, true, lab.KeyRSA // Wine's CryptoAPI provider is RSA-only
		is, err := ca.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	now := time.Now()
	s := winSeed{ca: ca, dir: tempdir.New(t),
		good:    issue(lab.IssueOptions{NotBefore: now.AddDate(-1, 0, 20), NotAfter: now.AddDate(0, 0, 20)}),
		keyless: issue(lab.IssueOptions{NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(1, 0, -2)}),
	}
	s.store, err = winseed.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.store.Close(); err != nil {
			t.Errorf("removing %s: %v", s.store.Loc, err)
		}
	})
	key, ok := s.good.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T", s.good.Key)
	}
	if _, err := s.store.AddWithCAPIKey(s.good.Cert, key, false); err != nil {
		t.Fatal(err)
	}
	if err := s.store.AddKeyless(s.keyless.Cert); err != nil {
		t.Fatal(err)
	}
	s.inventory = filepath.Join(s.dir, "exchange-inventory.json")
	if err := checktest.WriteConfig(s.inventory, exchangetest.SeedConfig(s.good.Cert, s.good.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	return s
}

// newPFX writes a renewal as a password-protected PFX with its chain.
func (s winSeed) newPFX(t *testing.T, ca *lab.CA) (*lab.Issued, string) {
	t.Helper()
	n, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true, KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(n.Key, n.Cert, n.Chain, "Renew-2026")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.dir, "mail-2026.pfx")
	write(t, file, pfx)
	return n, file
}

func (s winSeed) preflight(t *testing.T, file string) (int, preflight.Report, string) {
	t.Helper()
	t.Setenv("MXPROBE_PFX_PASSWORD", "Renew-2026")
	code, out, stderr := run(t, "preflight", "--cert-store", s.store.URI(), "--exchange-inventory", s.inventory,
		"--hostname", "edge01.contoso.com", "--new-cert", file, "--format", "json")
	var r preflight.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d: %v\nstderr %s\n%s", code, err, stderr, out)
	}
	return code, r, out
}

func connector(t *testing.T, r preflight.Report, name, out string) preflight.Connector {
	t.Helper()
	for _, c := range r.Connectors {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no connector %q\n%s", name, out)
	return preflight.Connector{}
}

func planText(r preflight.Report) string {
	var b strings.Builder
	for _, s := range r.Plan {
		b.WriteString(s.Title + "\n  " + strings.Join(s.Commands, "\n  ") + "\n")
	}
	return b.String()
}

// A renewal from the same CA, on the seed store: today every connector is
// broken (transport picks the keyless duplicate or a key NETWORK SERVICE
// cannot read); after the import and the removal of both old certificates
// every connector uses the new one: fixed, nothing breaks (exit 0). The
// plan removes the keyed original and the keyless duplicate from the store
// that was read, by thumbprint.
func TestPreflightWindowsStoreSeedCaseRenewal(t *testing.T) {
	s := seedWindowsStore(t)
	n, file := s.newPFX(t, s.ca)
	code, r, out := s.preflight(t, file)
	if code != 0 || r.Breaks {
		t.Fatalf("exit %d, breaks %v, want 0\n%s", code, r.Breaks, out)
	}
	if r.New.Thumbprint != n.Thumbprint() || r.New.Key != "ok" {
		t.Fatalf("new certificate %+v", r.New)
	}
	var replaced []string
	for _, c := range r.Replaced {
		replaced = append(replaced, c.Thumbprint)
	}
	slices.Sort(replaced)
	want := []string{s.good.Thumbprint(), s.keyless.Thumbprint()}
	slices.Sort(want)
	if !slices.Equal(replaced, want) {
		t.Fatalf("replaced %v, want the keyed original and the keyless duplicate %v\n%s", replaced, want, out)
	}
	send := connector(t, r, "Outbound to Office 365", out)
	t.Logf("send connector today: %s by %s, by rule %+v, codes %v", send.Today.Selected, send.Today.Rule, send.Today.ByRule, send.Today.Codes)
	if len(send.Today.Codes) == 0 || send.Outcome != preflight.Fixed || send.Removal.Selected != n.Thumbprint() {
		t.Fatalf("send connector %+v, want broken today and fixed by the renewal\n%s", send, out)
	}
	// The seed incident as read through crypt32: the latest-expiring rule
	// takes the keyless duplicate (its NotAfter is later), so today the send
	// connector selects a certificate without a key (the first-match rule
	// takes whichever the store enumerates first).
	latest := slices.IndexFunc(send.Today.ByRule, func(b exchange.RuleChoice) bool {
		return b.Rule == exchange.RuleLatestExpiring && b.Thumbprint == s.keyless.Thumbprint()
	})
	if latest < 0 || !slices.Contains(send.Today.Codes, "CONNECTOR_SELECTS_KEYLESS_CERT") {
		t.Errorf("today the send connector does not select the keyless duplicate %s: %+v", s.keyless.Thumbprint(), send.Today)
	}
	for _, c := range r.Connectors {
		if c.Outcome != preflight.Fixed || c.Removal.Selected != n.Thumbprint() {
			t.Errorf("%s: %s, after removal %s; want fixed by the new certificate", c.Name, c.Outcome, c.Removal.Selected)
		}
	}
	plan := planText(r)
	storePath := `Cert:\` + s.store.Loc.String()
	for _, tp := range want {
		if !strings.Contains(plan, "Get-ChildItem "+storePath+" | Where-Object Thumbprint -eq '"+tp+"' | Remove-Item") {
			t.Errorf("plan does not remove %s from %s:\n%s", tp, storePath, plan)
		}
	}
	if strings.Contains(plan, "-TlsCertificateName") {
		t.Errorf("plan changes TlsCertificateName although the renewal keeps issuer and subject:\n%s", plan)
	}
	dup := false
	for _, c := range r.Checks {
		if c.ID == preflight.CheckDuplicate && c.Status == preflight.Warn {
			dup = true
		}
	}
	if !dup {
		t.Errorf("no duplicate-identity warning\n%s", out)
	}
}

// A renewal through another CA on the same store: the connectors keep the
// old identity's TlsCertificateName, so the send connector finds none once
// the old certificates are removed (CONNECTOR_CERT_NOT_FOUND): exit 2; the
// receive connector, broken today on this store, stays broken; the plan
// sets the new value on both.
func TestPreflightWindowsStoreSeedCaseIssuerChange(t *testing.T) {
	s := seedWindowsStore(t)
	other, err := lab.NewCA("Fabrikam Public CA")
	if err != nil {
		t.Fatal(err)
	}
	n, file := s.newPFX(t, other)
	code, r, out := s.preflight(t, file)
	if code != 2 || !r.Breaks {
		t.Fatalf("exit %d, want 2\n%s", code, out)
	}
	// The send connector takes the first issuer+subject match without
	// looking at the key, so it has a certificate today and loses it.
	send := connector(t, r, "Outbound to Office 365", out)
	if send.Today.Selected == "" || send.Outcome != preflight.Breaks || !slices.Contains(send.NewCodes, "CONNECTOR_CERT_NOT_FOUND") || send.UsesNew || send.Removal.Selected != "" {
		t.Errorf("send connector %+v, want a break with CONNECTOR_CERT_NOT_FOUND", send)
	}
	// The receive connector needs a key transport can read: the keyed
	// original's key (a user-keyset CryptoAPI key) is not readable by
	// NETWORK SERVICE, on Windows and under Wine alike, and the duplicate has
	// none, so it finds no certificate today already; the renewal through
	// another CA does not change that while TlsCertificateName stays.
	recv := connector(t, r, `EDGE01\Default internal receive connector EDGE01`, out)
	if recv.Outcome != preflight.StillBroken || !slices.Contains(recv.Today.Codes, "CONNECTOR_CERT_NOT_FOUND") || !slices.Contains(recv.Removal.Codes, "CONNECTOR_CERT_NOT_FOUND") || recv.UsesNew {
		t.Errorf("receive connector %+v, want still broken (no eligible certificate today and after)", recv)
	}
	// The internal transport certificate moves to the new one (Enable-ExchangeCertificate -Services SMTP).
	for _, c := range r.Connectors {
		if c.Kind == exchange.KindInternalTransport && c.Removal.Selected != n.Thumbprint() {
			t.Errorf("internal transport certificate after removal %s, want %s", c.Removal.Selected, n.Thumbprint())
		}
	}
	plan := planText(r)
	for _, want := range []string{
		"Set-SendConnector -Identity 'Outbound to Office 365' -TlsCertificateName '<I>CN=Fabrikam Public CA",
		`Set-ReceiveConnector -Identity 'EDGE01\Default internal receive connector EDGE01' -TlsCertificateName '<I>CN=Fabrikam Public CA`,
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
}

// The chain check on the server's real stores: a renewal issued by an
// intermediate the PFX does not carry. By default preflight reads
// LocalMachine\CA and LocalMachine\Root (here the prefix's or machine's
// own, which do not hold the lab intermediate): incomplete, and the stores
// read are named. With --chain-store naming a store seeded with the
// intermediate and the root through crypt32, the chain is complete and
// each link says which store it came from.
func TestPreflightWindowsChainStores(t *testing.T) {
	s := seedWindowsStore(t)
	ic, err := s.ca.Issue(lab.IssueOptions{CommonName: "Contoso Intermediate CA", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ic.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	n, err := inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true, KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(n.Key, n.Cert, nil, "Renew-2026") // no chain in the file
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.dir, "mail-2026-leaf.pfx")
	write(t, file, pfx)
	chain := func(r preflight.Report) preflight.Check {
		for _, c := range r.Checks {
			if c.ID == preflight.CheckChain {
				return c
			}
		}
		t.Fatalf("no chain check: %+v", r.Checks)
		return preflight.Check{}
	}
	_, r, out := s.preflight(t, file)
	if c := chain(r); c.Status != preflight.Warn || !strings.Contains(c.Summary, "Contoso Intermediate CA") || !strings.Contains(c.Summary, `windows:LocalMachine\CA`) {
		t.Fatalf("default stores: %+v\n%s", c, out)
	}
	cas, err := winseed.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cas.Close(); err != nil {
			t.Errorf("removing %s: %v", cas.Loc, err)
		}
	})
	for _, c := range []*lab.Issued{ic} {
		if err := cas.AddKeyless(c.Cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := cas.AddKeyless(s.ca.Cert); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MXPROBE_PFX_PASSWORD", "Renew-2026")
	code, out, stderr := run(t, "preflight", "--cert-store", s.store.URI(), "--exchange-inventory", s.inventory,
		"--hostname", "edge01.contoso.com", "--new-cert", file, "--format", "json", "--chain-store", cas.URI())
	var r2 preflight.Report
	if err := json.Unmarshal([]byte(out), &r2); err != nil {
		t.Fatalf("exit %d: %v\nstderr %s\n%s", code, err, stderr, out)
	}
	if c := chain(r2); c.Status != preflight.Pass || !strings.Contains(c.Summary, "Contoso Intermediate CA ("+cas.URI()+") <- Contoso Issuing CA ("+cas.URI()+")") {
		t.Fatalf("seeded chain store: %+v\n%s", c, out)
	}
}

// A .cer answering a request made on this server (--key-source request),
// on the seed store: the key check reads the store of pending requests
// through crypt32. A request store holding the placeholder certificate
// certreq / New-ExchangeCertificate -GenerateRequest leave, linked to the
// request's CryptoAPI key, proves the key: pass, nothing breaks (exit 0).
// One holding only another request's placeholder: the import would be
// keyless, exit 2. By default the server's LocalMachine\REQUEST is read,
// which holds no request for this freshly made key: never a pass.
func TestPreflightWindowsRequestStore(t *testing.T) {
	s := seedWindowsStore(t)
	n, err := s.ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true, KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	cer := filepath.Join(s.dir, "mail-2026.cer")
	write(t, cer, n.Cert.Raw)
	other, err := s.ca.Issue(lab.IssueOptions{CommonName: "other.contoso.com", KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	requests := func(key *rsa.PrivateKey) *winseed.Store {
		st, err := winseed.NewStore()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("removing %s: %v", st.Loc, err)
			}
		})
		if _, err := st.AddWithCAPIKey(requestPlaceholder(t, key), key, false); err != nil {
			t.Fatal(err)
		}
		return st
	}
	keyCheck := func(extra ...string) (int, preflight.Check, string) {
		t.Helper()
		args := append([]string{"preflight", "--cert-store", s.store.URI(), "--exchange-inventory", s.inventory,
			"--hostname", "edge01.contoso.com", "--new-cert", cer, "--key-source", "request", "--format", "json"}, extra...)
		code, out, stderr := run(t, args...)
		var r preflight.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("exit %d: %v\nstderr %s\n%s", code, err, stderr, out)
		}
		for _, c := range r.Checks {
			if c.ID == preflight.CheckKey {
				return code, c, out
			}
		}
		t.Fatalf("no key check\n%s", out)
		return 0, preflight.Check{}, ""
	}
	mine := requests(n.Key.(*rsa.PrivateKey))
	if code, c, out := keyCheck("--request-store", mine.URI()); code != 0 || c.Status != preflight.Pass || !strings.Contains(c.Summary, "in "+mine.URI()) {
		t.Fatalf("request store with the request: exit %d, %+v\n%s", code, c, out)
	}
	theirs := requests(other.Key.(*rsa.PrivateKey))
	if code, c, out := keyCheck("--request-store", theirs.URI()); code != 2 || c.Status != preflight.Fail || !strings.Contains(c.Summary, "no pending request in "+theirs.URI()) {
		t.Fatalf("request store without the request: exit %d, %+v\n%s", code, c, out)
	}
	code, c, out := keyCheck()
	if c.Status == preflight.Pass || !strings.Contains(c.Summary, `windows:LocalMachine\REQUEST`) {
		t.Fatalf("default request store: exit %d, %+v\n%s", code, c, out)
	}
	t.Logf("default request store: exit %d, [%s] %s", code, c.Status, c.Summary)
}
