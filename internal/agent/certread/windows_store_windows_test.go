//go:build windows

package certread_test

// These tests seed real system stores through crypt32 (winseed) and read
// them back with the windows: backend. They run on Windows and, in CI, under
// Wine 8 (scripts/wine/test.sh); where Wine differs from Windows the test
// says so and asserts what each one does (docs/wine.md).

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/certread/winseed"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
	"software.sslmate.com/src/go-pkcs12"
)

const (
	cryptMachineKeyset = 0x20
	cryptUserKeyset    = 0x1000
	pkcs12AlwaysCNGKSP = 0x200
	cryptENoKeyProp    = "0x8009200B" // CRYPT_E_NO_KEY_PROPERTY
)

func newStore(t *testing.T) *winseed.Store {
	t.Helper()
	s, err := winseed.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("removing %s: %v", s.Loc, err)
		}
	})
	return s
}

func readStore(t *testing.T, uri string) certstore.Contents {
	t.Helper()
	st, err := certread.Open(uri, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Problems) > 0 {
		t.Fatalf("%s: problems %v", uri, c.Problems)
	}
	return c
}

func certOf(t *testing.T, c certstore.Contents, is *lab.Issued) certstore.Certificate {
	t.Helper()
	tp := is.Thumbprint()
	for _, got := range c.Certificates {
		if got.Thumbprint == tp {
			return got
		}
	}
	t.Fatalf("%s not in %s (%d certificates)", tp, c.Location, len(c.Certificates))
	return certstore.Certificate{}
}

func newCA(t *testing.T) *lab.CA {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA 1")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	o.KeyType = lab.KeyRSA // the CryptoAPI provider Wine has is RSA-only
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func rsaKey(t *testing.T, is *lab.Issued) *rsa.PrivateKey {
	t.Helper()
	k, ok := is.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T", is.Key)
	}
	return k
}

func pfxOf(t *testing.T, is *lab.Issued, password string) []byte {
	t.Helper()
	b, err := pkcs12.Modern.Encode(is.Key, is.Cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWindowsStoreKeylessCertificate(t *testing.T) {
	s := newStore(t)
	is := issue(t, newCA(t), lab.IssueOptions{CommonName: "mail.contoso.com"})
	if err := s.AddKeyless(is.Cert); err != nil {
		t.Fatal(err)
	}
	c := certOf(t, readStore(t, s.URI()), is)
	if c.HasPrivateKey || c.Key != certstore.KeyAbsent || c.KeySource != "" {
		t.Fatalf("keyless: has %v key %v source %q", c.HasPrivateKey, c.Key, c.KeySource)
	}
	if c.Source != s.URI() {
		t.Errorf("source %q, want %q", c.Source, s.URI())
	}
}

// A CryptoAPI key in the user's keyset: acquired silently, so usable, and
// named by provider\container.
func TestWindowsStoreCAPIKeyUserKeyset(t *testing.T) {
	s := newStore(t)
	is := issue(t, newCA(t), lab.IssueOptions{CommonName: "mail.contoso.com"})
	info, err := s.AddWithCAPIKey(is.Cert, rsaKey(t, is), false)
	if err != nil {
		t.Fatal(err)
	}
	c := certOf(t, readStore(t, s.URI()), is)
	if !c.HasPrivateKey || c.Key != certstore.KeyUsable {
		t.Fatalf("has %v key %v (%s)", c.HasPrivateKey, c.Key, c.KeyDetail)
	}
	if want := winseed.MSEnhancedProv + `\` + info.Container; c.KeySource != want {
		t.Errorf("key source %q, want %q", c.KeySource, want)
	}
	// The key ACL is read (PP_KEYSET_SEC_DESCR) and evaluated for NETWORK
	// SERVICE. A user-keyset key is not readable by it: on Windows its DACL
	// grants the user, SYSTEM and Administrators; Wine's rsaenh returns
	// D:(A;CIIO;GR;;;BU)(A;;KA;;;BA) for every key, where Users' read is
	// inherit-only and so does not apply to the key. Either way the agent
	// says denied, which is what transport would find.
	if c.TransportCanReadKey == nil || *c.TransportCanReadKey || !strings.Contains(c.KeyDetail, "NETWORK SERVICE read access denied") {
		t.Errorf("transport read %v, detail %q", c.TransportCanReadKey, c.KeyDetail)
	}
}

// A CryptoAPI key in the machine keyset, linked with dwFlags
// CRYPT_MACHINE_KEYSET as Windows records it. Windows acquires it. Wine 8's
// CryptAcquireCertificatePrivateKey opens the container without
// CRYPT_MACHINE_KEYSET (WINEDEBUG=+crypt shows CryptAcquireContextW(...,
// 0x40)), does not find it, and fails with CRYPT_E_NO_KEY_PROPERTY: the
// agent reports what the API said, which is what transport would get.
func TestWindowsStoreCAPIKeyMachineKeyset(t *testing.T) {
	s := newStore(t)
	is := issue(t, newCA(t), lab.IssueOptions{CommonName: "mail.contoso.com"})
	if _, err := s.AddWithCAPIKey(is.Cert, rsaKey(t, is), true); err != nil {
		t.Fatal(err)
	}
	c := certOf(t, readStore(t, s.URI()), is)
	if !c.HasPrivateKey {
		t.Fatal("no key association")
	}
	if winseed.IsWine() {
		if c.Key != certstore.KeyUnusable || !strings.Contains(c.KeyDetail, cryptENoKeyProp) {
			t.Fatalf("Wine: key %v (%s): want unusable with CRYPT_E_NO_KEY_PROPERTY", c.Key, c.KeyDetail)
		}
		return
	}
	if c.Key != certstore.KeyUsable {
		t.Fatalf("Windows: key %v (%s)", c.Key, c.KeyDetail)
	}
}

// PFXImportCertStore, as Import-PfxCertificate does it. User keyset: usable
// everywhere. Machine keyset (what servers use): usable on Windows; under
// Wine 8 unusable, for two Wine reasons: its import records dwFlags 0 in the
// provider info and its acquisition ignores dwFlags anyway (see above).
func TestWindowsStorePFXImport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flags    uint32
		wineGood bool
	}{
		{"user keyset", cryptUserKeyset, true},
		{"machine keyset", cryptMachineKeyset, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			is := issue(t, newCA(t), lab.IssueOptions{CommonName: "pfx.contoso.com"})
			infos, err := s.ImportPFX(pfxOf(t, is, "Pa55w.rd"), "Pa55w.rd", tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("provider info after import: %+v", infos)
			c := certOf(t, readStore(t, s.URI()), is)
			if !c.HasPrivateKey {
				t.Fatal("PFX import left no key association")
			}
			wantUsable := !winseed.IsWine() || tc.wineGood
			if got := c.Key == certstore.KeyUsable; got != wantUsable {
				t.Fatalf("key %v (%s), want usable=%v (wine=%v)", c.Key, c.KeyDetail, wantUsable, winseed.IsWine())
			}
			if winseed.IsWine() && !tc.wineGood && !strings.Contains(c.KeyDetail, cryptENoKeyProp) {
				t.Errorf("Wine: detail %q lacks CRYPT_E_NO_KEY_PROPERTY", c.KeyDetail)
			}
		})
	}
}

// PKCS12_ALWAYS_CNG_KSP asks for a CNG key (Microsoft Software Key Storage
// Provider), which is what the CNG signer needs. Windows honours it. Wine 8
// has no persisted CNG keys ("NCryptCreatePersistedKey: Persistent keys are
// not supported", NCryptOpenKey is a stub): its import falls back to the
// CryptoAPI provider or fails, and either way no KSP key appears.
func TestWindowsStorePFXImportCNG(t *testing.T) {
	s := newStore(t)
	is := issue(t, newCA(t), lab.IssueOptions{CommonName: "cng.contoso.com"})
	infos, err := s.ImportPFX(pfxOf(t, is, "x"), "x", cryptUserKeyset|pkcs12AlwaysCNGKSP)
	if winseed.IsWine() {
		for _, i := range infos {
			if i.Provider == winseed.MSKeyStorageKSP {
				t.Fatalf("Wine made a KSP key: %+v", i)
			}
		}
		t.Logf("Wine: import err %v, provider info %+v", err, infos)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	c := certOf(t, readStore(t, s.URI()), is)
	if c.Key != certstore.KeyUsable || !strings.HasPrefix(c.KeySource, winseed.MSKeyStorageKSP+`\`) {
		t.Fatalf("key %v source %q (%s)", c.Key, c.KeySource, c.KeyDetail)
	}
	sg, err := certread.OpenWindowsSigner(s.Loc, c.Thumbprint)
	if err != nil {
		t.Fatal(err)
	}
	sg.Close()
}

// A key association whose key is gone (the key file deleted, or a
// certificate imported on another machine): HasPrivateKey is true, as
// PowerShell says, but the key is unusable and the agent says why. Same for
// a CryptoAPI container and a CNG key.
func TestWindowsStoreMissingKey(t *testing.T) {
	for _, info := range []winseed.ProvInfo{
		{Container: "mxprobe-test-missing", Provider: winseed.MSEnhancedProv, ProvType: 1, Flags: cryptMachineKeyset, KeySpec: 1},
		{Container: "mxprobe-test-missing", Provider: winseed.MSKeyStorageKSP, ProvType: 0, Flags: cryptMachineKeyset, KeySpec: 0},
	} {
		t.Run(info.Provider, func(t *testing.T) {
			s := newStore(t)
			is := issue(t, newCA(t), lab.IssueOptions{CommonName: "gone.contoso.com"})
			if err := s.AddWithProvInfo(is.Cert, info); err != nil {
				t.Fatal(err)
			}
			c := certOf(t, readStore(t, s.URI()), is)
			if !c.HasPrivateKey || c.Key != certstore.KeyUnusable || !strings.Contains(c.KeyDetail, "CryptAcquireCertificatePrivateKey failed") {
				t.Fatalf("has %v key %v detail %q", c.HasPrivateKey, c.Key, c.KeyDetail)
			}
			fs := certdiag.CertStore(readStore(t, s.URI()), diagnose.Options{})
			if !hasFinding(fs, finding.CertKeyNotAccessible, c.Thumbprint) {
				t.Errorf("no CERT_KEY_NOT_ACCESSIBLE: %v", codes(fs))
			}
		})
	}
}

// The CNG signer for client certificates: a CryptoAPI key is refused with
// ErrLegacyCSPKey (the hint says how to re-import as CNG), a thumbprint not
// in the store with ErrCertNotInStore, a keyless certificate with an error
// naming the acquisition.
func TestWindowsStoreSigner(t *testing.T) {
	s := newStore(t)
	ca := newCA(t)
	keyed := issue(t, ca, lab.IssueOptions{CommonName: "client.contoso.com", ClientAuth: true})
	if _, err := s.AddWithCAPIKey(keyed.Cert, rsaKey(t, keyed), false); err != nil {
		t.Fatal(err)
	}
	keyless := issue(t, ca, lab.IssueOptions{CommonName: "client.contoso.com", ClientAuth: true})
	if err := s.AddKeyless(keyless.Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := certread.OpenWindowsSigner(s.Loc, keyed.Thumbprint()); !errors.Is(err, certread.ErrLegacyCSPKey) {
		t.Errorf("CryptoAPI key: %v, want ErrLegacyCSPKey", err)
	}
	if _, err := certread.OpenWindowsSigner(s.Loc, strings.Repeat("AB", 20)); !errors.Is(err, certread.ErrCertNotInStore) {
		t.Errorf("absent: %v, want ErrCertNotInStore", err)
	}
	if _, err := certread.OpenWindowsSigner(s.Loc, keyless.Thumbprint()); err == nil || !strings.Contains(err.Error(), "CryptAcquireCertificatePrivateKey") {
		t.Errorf("keyless: %v", err)
	}
}

// storeSet is the whole set of certificates of the equivalence test, as
// one Exchange server's LocalMachine\My might hold them.
type storeSet struct {
	ca                            *lab.CA
	good, keylessDup              *lab.Issued // the seed incident
	expired, renewed              *lab.Issued
	caCert, keyless, selfSigned   *lab.Issued
	keyed                         []*lab.Issued // have keys
	all                           []*lab.Issued
	goodTP, dupTP, expTP, renewTP string
}

func newStoreSet(t *testing.T) storeSet {
	t.Helper()
	ca := newCA(t)
	now := time.Now()
	org := []string{"Contoso"}
	var s storeSet
	s.ca = ca
	s.good = issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, 0, -30), NotAfter: now.AddDate(1, 0, -30), ServerAuth: true})
	s.keylessDup = issue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", Organization: org, NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(1, 0, -2), ServerAuth: true})
	s.expired = issue(t, ca, lab.IssueOptions{CommonName: "smtp.contoso.com", Organization: org, NotBefore: now.AddDate(-1, 0, -10), NotAfter: now.AddDate(0, 0, -10), ServerAuth: true})
	s.renewed = issue(t, ca, lab.IssueOptions{CommonName: "smtp.contoso.com", Organization: org, NotBefore: now.AddDate(0, 0, -11), NotAfter: now.AddDate(1, 0, -11), ServerAuth: true})
	ic, err := ca.Issue(lab.IssueOptions{CommonName: "Contoso Intermediate CA", IsCA: true, KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	s.caCert = ic
	s.keyless = issue(t, ca, lab.IssueOptions{CommonName: "autodiscover.contoso.com", ServerAuth: true})
	s.selfSigned = issue(t, ca, lab.IssueOptions{CommonName: "EDGE01", SelfSigned: true, ServerAuth: true})
	s.keyed = []*lab.Issued{s.good, s.expired, s.renewed, s.selfSigned}
	s.all = []*lab.Issued{s.good, s.keylessDup, s.expired, s.renewed, s.caCert, s.keyless, s.selfSigned}
	return s
}

func hasKey(set storeSet, is *lab.Issued) bool {
	for _, k := range set.keyed {
		if k == is {
			return true
		}
	}
	return false
}

// seedWindows puts the set in a scratch system store: keys in the user's
// CryptoAPI keyset, the one Wine can acquire (machine-keyset keys are
// covered by TestWindowsStoreCAPIKeyMachineKeyset).
func seedWindows(t *testing.T, set storeSet) *winseed.Store {
	t.Helper()
	s := newStore(t)
	for _, is := range set.all {
		var err error
		if hasKey(set, is) {
			_, err = s.AddWithCAPIKey(is.Cert, rsaKey(t, is), false)
		} else {
			err = s.AddKeyless(is.Cert)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// seedPEMDir writes the same certificates (and keys, as PKCS#8 files with
// names that do not say which certificate they belong to) to a directory.
func seedPEMDir(t *testing.T, set storeSet) string {
	t.Helper()
	dir := tempdir.New(t)
	for i, is := range set.all {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cert-%d.pem", i)), is.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		if hasKey(set, is) {
			kp, err := is.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("key-%d.pem", len(set.all)-i)), kp, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// findingKey is what must agree between backends: code, subject, severity,
// and the evidence that describes the certificate and its key. Where the
// finding was read from (store, source) naturally differs.
func findingKey(f *mxv1.Finding) string {
	ev := f.GetEvidence()
	var keep []string
	for _, k := range []string{"thumbprint", "subject", "issuer", "has_private_key", "key_status", "thumbprints", "without_usable_key", "not_after"} {
		if v, ok := ev[k]; ok {
			keep = append(keep, k+"="+v)
		}
	}
	return fmt.Sprintf("%s %s %s [%s]", f.GetCode(), f.GetSubject(), f.GetSeverity(), strings.Join(keep, " "))
}

func keys(fs []*mxv1.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, findingKey(f))
	}
	sort.Strings(out)
	return out
}

func codes(fs []*mxv1.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetCode()+" "+f.GetSubject())
	}
	return out
}

func hasFinding(fs []*mxv1.Finding, code finding.Code, subject string) bool {
	for _, f := range fs {
		if f.GetCode() == string(code) && f.GetSubject() == subject {
			return true
		}
	}
	return false
}

// For the same certificates and keys, windows: and pemdir: give the same
// findings: the seed incident's keyless duplicate next to its keyed
// original, an expired certificate next to its renewal, a CA certificate in
// My, a keyless certificate and a self-signed one. The backends differ only
// where the Windows one knows more (the key's ACL, which Wine does not
// return; on Windows a NETWORK SERVICE denial would add a finding, which
// this set does not have).
func TestWindowsAndPEMDirGiveTheSameFindings(t *testing.T) {
	set := newStoreSet(t)
	ws := seedWindows(t, set)
	dir := seedPEMDir(t, set)
	o := diagnose.Options{Now: time.Now(), Host: "edge01.contoso.com"}
	winContents := readStore(t, ws.URI())
	pem := certdiag.CertStore(readStore(t, "pemdir:"+dir), o)
	// What only the Windows backend can know: the key's ACL. Every keyed
	// certificate here has a user-keyset key NETWORK SERVICE cannot read
	// (TestWindowsStoreCAPIKeyUserKeyset), so each gets exactly that
	// finding from the full Windows contents.
	aclOnly := map[string]bool{}
	for _, f := range certdiag.CertStore(winContents, o) {
		if f.GetEvidence()["transport_can_read_key"] == "false" {
			if f.GetCode() != string(finding.CertKeyNotAccessible) {
				t.Errorf("ACL evidence on %s", findingKey(f))
			}
			aclOnly[f.GetSubject()] = true
		}
	}
	for _, is := range set.keyed {
		if !aclOnly[is.Thumbprint()] {
			t.Errorf("no NETWORK SERVICE finding for keyed %s", is.Thumbprint())
		}
	}
	if len(aclOnly) != len(set.keyed) {
		t.Errorf("ACL findings for %d certificates, want %d", len(aclOnly), len(set.keyed))
	}
	// Without that knowledge (what pemdir: cannot have), everything must
	// match pemdir: finding for finding. The ACL also changes other
	// findings (a keyless duplicate whose keyed twin is unreadable too is no
	// longer the seed incident's shape), so it is removed before diagnosis,
	// not filtered out after.
	noACL := winContents
	noACL.Certificates = slices.Clone(winContents.Certificates)
	for i := range noACL.Certificates {
		noACL.Certificates[i].TransportCanReadKey = nil
	}
	win := certdiag.CertStore(noACL, o)
	wk, pk := keys(win), keys(pem)
	if strings.Join(wk, "\n") != strings.Join(pk, "\n") {
		t.Fatalf("windows: and pemdir: disagree\nwindows:\n  %s\npemdir:\n  %s", strings.Join(wk, "\n  "), strings.Join(pk, "\n  "))
	}
	// And the findings are the ones the set calls for (so agreeing on
	// nothing would not pass).
	for _, want := range []struct {
		code    finding.Code
		subject string
	}{
		{finding.CertNoPrivateKey, set.keylessDup.Thumbprint()},
		{finding.CertNoPrivateKey, set.keyless.Thumbprint()},
		{finding.CertExpired, set.expired.Thumbprint()},
		{finding.CertSelfSigned, set.selfSigned.Thumbprint()},
	} {
		if !hasFinding(win, want.code, want.subject) {
			t.Errorf("windows: no %s for %s in %v", want.code, want.subject, codes(win))
		}
	}
	// Two identities are shared: the seed pair (one without a key: an
	// error) and the expired certificate with its renewal (both keyed: a
	// warning).
	dups := map[string]*mxv1.Finding{}
	for _, f := range win {
		if f.GetCode() == string(finding.CertDuplicateIdentity) {
			dups[f.GetEvidence()["subject"]] = f
		}
	}
	if len(dups) != 2 {
		t.Errorf("duplicate identities: %v", codes(win))
	}
	if d := dups[set.good.Cert.Subject.String()]; d == nil || d.GetEvidence()["without_usable_key"] != set.keylessDup.Thumbprint() || d.GetSeverity() != mxv1.Severity_SEVERITY_ERROR {
		t.Errorf("seed duplicate: %v", d)
	}
	if d := dups[set.renewed.Cert.Subject.String()]; d == nil || d.GetEvidence()["without_usable_key"] != "" || d.GetSeverity() != mxv1.Severity_SEVERITY_WARNING {
		t.Errorf("renewal pair: %v", d)
	}
	for _, is := range []*lab.Issued{set.good, set.renewed} {
		for _, f := range win {
			if f.GetSubject() == is.Thumbprint() && f.GetCode() != string(finding.CertDuplicateIdentity) {
				t.Errorf("%s (%s) should have no finding of its own: %s", is.Thumbprint(), is.Cert.Subject, findingKey(f))
			}
		}
	}
	t.Logf("%d findings agree", len(wk))
}
