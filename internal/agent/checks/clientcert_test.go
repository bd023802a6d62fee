package checks

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// fakeWindowsStore serves certificates as the windows: backend reports
// them (Source windows:LocalMachine\My, KeySource provider\container).
type fakeWindowsStore struct{ certs []certstore.Certificate }

func (s fakeWindowsStore) Read(context.Context) (certstore.Contents, error) {
	return certstore.Contents{Location: `windows:LocalMachine\My`, Certificates: s.certs}, nil
}

func windowsEntry(c *x509.Certificate) certstore.Certificate {
	return certstore.Certificate{
		Thumbprint: thumbprint.OfDER(c.Raw), Cert: c, HasPrivateKey: true, Key: certstore.KeyUsable,
		Source: `windows:LocalMachine\My`, Sources: []string{`windows:LocalMachine\My`},
		KeySource: `Microsoft Software Key Storage Provider\te-ExchangeCert-0123`,
	}
}

// fakeCNG stands in for certread.OpenWindowsSigner: keys by thumbprint,
// counting opens and closes.
type fakeCNG struct {
	mu     sync.Mutex
	keys   map[string]crypto.Signer
	opened int
	closed int
	locs   []certstore.WindowsLocation
}

type fakeCNGKey struct {
	crypto.Signer
	cng    *fakeCNG
	closed bool
}

func (k *fakeCNGKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.cng.mu.Lock()
	closed := k.closed
	k.cng.mu.Unlock()
	if closed {
		return nil, certread.ErrSignerClosed
	}
	return k.Signer.Sign(r, d, o)
}

func (k *fakeCNGKey) Close() error {
	k.cng.mu.Lock()
	defer k.cng.mu.Unlock()
	if !k.closed {
		k.closed = true
		k.cng.closed++
	}
	return nil
}

func (f *fakeCNG) open(loc certstore.WindowsLocation, thumbprint string) (storeKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locs = append(f.locs, loc)
	k, ok := f.keys[thumbprint]
	if !ok {
		return nil, certread.ErrCertNotInStore
	}
	f.opened++
	return &fakeCNGKey{Signer: k, cng: f}, nil
}

func (f *fakeCNG) counts() (opened, closed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened, f.closed
}

func useFakeCNG(t *testing.T, keys map[string]crypto.Signer) *fakeCNG {
	t.Helper()
	f := &fakeCNG{keys: keys}
	old := openStoreKey
	openStoreKey = f.open
	t.Cleanup(func() { openStoreKey = old })
	return f
}

type windowsFixture struct {
	ca     *lab.CA
	issued *lab.Issued
	cc     *ConnectorClientCert
}

func newWindowsFixture(t *testing.T, kt lab.KeyType) windowsFixture {
	t.Helper()
	ca := newCA(t)
	is := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", ClientAuth: true, ServerAuth: true, KeyType: kt})
	inv := filepath.Join(tempdir.New(t), "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(is.Cert, is.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	src := &ExchangeSource{Config: inv, Stores: []Store{{URI: `windows:LocalMachine\My`, Store: fakeWindowsStore{[]certstore.Certificate{windowsEntry(is.Cert)}}}}}
	return windowsFixture{ca: ca, issued: is, cc: &ConnectorClientCert{Source: src, Connector: "Outbound to Office 365"}}
}

// probeWith probes the lab server presenting cert exactly as
// ConnectorClientCert returned it.
func probeWith(t *testing.T, fx windowsFixture, addr string, cert *tls.Certificate, versions bool) smtpprobe.Result {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(fx.ca.Cert)
	opts := smtpprobe.Options{RootCAs: pool, ExpectName: "localhost", ServerName: "localhost", Timeout: 10 * time.Second,
		ProbeVersions: versions, ClientCertificate: cert}
	return smtpprobe.Probe(context.Background(), addr, opts)
}

// Certificate with a Windows store key: the key is proved usable, released,
// and reopened per signature; the lab server requiring a client certificate
// accepts it and no handle stays open.
func TestClientCertWindowsStoreKeyPerSignature(t *testing.T) {
	for _, kt := range []lab.KeyType{lab.KeyECDSAP256, lab.KeyRSA} {
		fx := newWindowsFixture(t, kt)
		f := useFakeCNG(t, map[string]crypto.Signer{fx.issued.Thumbprint(): fx.issued.Key})
		cert, tp, err := fx.cc.Certificate(context.Background())
		if err != nil || tp != fx.issued.Thumbprint() {
			t.Fatalf("Certificate: %s %v", tp, err)
		}
		if _, isGoKey := cert.PrivateKey.(*fakeCNGKey); isGoKey {
			t.Fatal("Certificate returned a held key")
		}
		if o, c := f.counts(); o != 1 || c != 1 {
			t.Fatalf("after Certificate: opened %d closed %d", o, c)
		}
		if len(f.locs) == 0 || f.locs[0].String() != `LocalMachine\My` {
			t.Fatalf("store location %v", f.locs)
		}
		s := startLab(t, lab.RequireClientCert, fx.ca)
		res := probeWith(t, fx, s.Addr(), cert, true)
		if res.Err != nil || !res.ClientCertPresented || res.ClientCertRejected {
			t.Fatalf("probe: err %v presented %v rejected %v", res.Err, res.ClientCertPresented, res.ClientCertRejected)
		}
		o, c := f.counts()
		if o < 2 || o != c {
			t.Fatalf("after probe: opened %d closed %d", o, c)
		}
	}
}

// Acquire holds one key for the whole probe (every version's handshake)
// and release closes it.
func TestClientCertWindowsStoreKeyAcquire(t *testing.T) {
	fx := newWindowsFixture(t, lab.KeyRSA)
	f := useFakeCNG(t, map[string]crypto.Signer{fx.issued.Thumbprint(): fx.issued.Key})
	cert, tp, release, err := fx.cc.Acquire(context.Background())
	if err != nil || tp != fx.issued.Thumbprint() {
		t.Fatalf("Acquire: %s %v", tp, err)
	}
	s := startLab(t, lab.RequireClientCert, fx.ca)
	res := probeWith(t, fx, s.Addr(), cert, true)
	if res.Err != nil || !res.ClientCertPresented || res.ClientCertRejected {
		t.Fatalf("probe: err %v presented %v rejected %v", res.Err, res.ClientCertPresented, res.ClientCertRejected)
	}
	if o, c := f.counts(); o != 1 || c != 0 {
		t.Fatalf("during probe: opened %d closed %d", o, c)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if o, c := f.counts(); o != 1 || c != 1 {
		t.Fatalf("after release: opened %d closed %d", o, c)
	}
	// Signing after release fails: the handle is gone.
	res = probeWith(t, fx, s.Addr(), cert, false)
	if res.Err == nil {
		t.Fatal("probe after release succeeded")
	}
}

// A store key that does not match the certificate is refused before any
// handshake, with the thumbprint, and nothing stays open.
func TestClientCertWindowsStoreKeyMismatch(t *testing.T) {
	fx := newWindowsFixture(t, lab.KeyECDSAP256)
	other := mustIssue(t, fx.ca, lab.IssueOptions{CommonName: "other.contoso.com"})
	f := useFakeCNG(t, map[string]crypto.Signer{fx.issued.Thumbprint(): other.Key})
	for _, acquire := range []bool{false, true} {
		var tp string
		var err error
		if acquire {
			var release func() error
			_, tp, release, err = fx.cc.Acquire(context.Background())
			if release == nil {
				t.Fatal("nil release")
			}
		} else {
			_, tp, err = fx.cc.Certificate(context.Background())
		}
		if !errors.Is(err, ErrClientCert) || !errors.Is(err, certread.ErrKeyMismatch) || tp != fx.issued.Thumbprint() {
			t.Fatalf("acquire=%v: %s %v", acquire, tp, err)
		}
	}
	if o, c := f.counts(); o != c {
		t.Fatalf("opened %d closed %d", o, c)
	}
}

// Off Windows the real CNG opener reports ErrUnsupported (wrapped in
// ErrClientCert) instead of trying to stat "provider\container".
func TestClientCertWindowsStoreKeyOffWindows(t *testing.T) {
	fx := newWindowsFixture(t, lab.KeyECDSAP256)
	if _, err := certread.OpenWindowsSigner(certstore.WindowsLocation{Location: certstore.LocalMachine, Store: "My"}, fx.issued.Thumbprint()); !errors.Is(err, certread.ErrUnsupported) {
		t.Skipf("OpenWindowsSigner works here: %v", err)
	}
	_, tp, err := fx.cc.Certificate(context.Background())
	if !errors.Is(err, ErrClientCert) || !errors.Is(err, certread.ErrUnsupported) || tp != fx.issued.Thumbprint() {
		t.Fatalf("%s %v", tp, err)
	}
}

// File keys are unaffected: Acquire's release is a no-op.
func TestClientCertAcquireFileKey(t *testing.T) {
	ca := newCA(t)
	dir := tempdir.New(t)
	good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", ClientAuth: true, ServerAuth: true})
	writeIssued(t, filepath.Join(dir, "store"), "good", good, true)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(good.Cert, good.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	uri := "pemdir:" + filepath.Join(dir, "store")
	cc := &ConnectorClientCert{Source: &ExchangeSource{Config: inv, Stores: []Store{{URI: uri, Store: mustOpen(t, uri)}}}, Connector: "Outbound to Office 365"}
	cert, tp, release, err := cc.Acquire(context.Background())
	if err != nil || tp != good.Thumbprint() || cert == nil || release == nil {
		t.Fatalf("Acquire: %s %v", tp, err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := certread.VerifyKeyPair(cert.PrivateKey.(crypto.Signer), good.Cert.PublicKey); err != nil {
		t.Fatal(err)
	}
}

func TestWindowsStoreOf(t *testing.T) {
	for src, want := range map[string]string{
		`windows:LocalMachine\My`:        `LocalMachine\My`,
		`WINDOWS:Cert:\LocalMachine\My`:  `LocalMachine\My`,
		`windows:CurrentUser/WebHosting`: `CurrentUser\WebHosting`,
		`pemdir:/etc/ssl`:                "",
		`/etc/ssl/good.crt`:              "",
		`windows:Nowhere\My`:             "",
	} {
		loc, ok := windowsStoreOf(&certstore.Certificate{Source: src})
		if got := map[bool]string{true: loc.String()}[ok]; got != want {
			t.Errorf("%s: %q, want %q", src, got, want)
		}
	}
}
