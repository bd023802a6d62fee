package certstore

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func readDir(t *testing.T, dir string, opts Options) Contents {
	t.Helper()
	s, err := OpenDir(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	inv, err := s.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return inv
}

func findCert(t *testing.T, inv Contents, c *x509.Certificate) Certificate {
	t.Helper()
	for _, got := range inv.Certificates {
		if got.Cert != nil && string(got.Cert.Raw) == string(c.Raw) {
			return got
		}
	}
	t.Fatalf("certificate %q (serial %v) not in inventory; have %d certs, problems %v", c.Subject, c.SerialNumber, len(inv.Certificates), inv.Problems)
	return Certificate{}
}

func findProblem(inv Contents, source string, target error) *Problem {
	for i, p := range inv.Problems {
		if p.Source == source && errors.Is(p.Err, target) {
			return &inv.Problems[i]
		}
	}
	return nil
}

var upperHex40 = regexp.MustCompile(`^[0-9A-F]{40}$`)

// TestSeedCase reproduces the incident: two certificates with the same
// issuer and subject, one whose key sits in an unrelated file name, one with
// no key at all. The keyless one must be visible, keyless, and identified by
// the thumbprint transport logs.
func TestSeedCase(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	goodKey := certstoretest.NewRSAKey(t)
	good := ca.Issue(t, "mail.contoso.com", &goodKey.PublicKey)
	orphanKey := certstoretest.NewECKey(t) // key is thrown away: the failed request
	keyless := ca.Issue(t, "mail.contoso.com", &orphanKey.PublicKey)

	if good.Subject.String() != keyless.Subject.String() || good.Issuer.String() != keyless.Issuer.String() {
		t.Fatal("test setup: subjects/issuers differ")
	}
	certstoretest.WriteFile(t, dir, "mail.contoso.com.crt", certstoretest.CertPEM(good))
	certstoretest.WriteFile(t, dir, "mail.contoso.com-renewed.crt", certstoretest.CertPEM(keyless))
	// Key in PKCS#1 with a name that says nothing about either cert.
	keyPath := certstoretest.WriteFile(t, dir, "backup-0003.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(goodKey)}))
	certstoretest.WriteFile(t, dir, "README.txt", []byte("not a certificate\n"))

	inv := readDir(t, dir, Options{})
	if len(inv.Problems) != 0 {
		t.Fatalf("unexpected problems: %v", inv.Problems)
	}
	if len(inv.Certificates) != 2 {
		t.Fatalf("want 2 certificates, got %d", len(inv.Certificates))
	}

	sum := sha1.Sum(keyless.Raw)
	wantThumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	bad := findCert(t, inv, keyless)
	if bad.Thumbprint != wantThumb || !upperHex40.MatchString(bad.Thumbprint) {
		t.Errorf("thumbprint = %q, want %q", bad.Thumbprint, wantThumb)
	}
	if bad.HasPrivateKey || bad.Key != KeyAbsent {
		t.Errorf("keyless cert: HasPrivateKey=%v Key=%v, want false/absent", bad.HasPrivateKey, bad.Key)
	}

	ok := findCert(t, inv, good)
	if !ok.HasPrivateKey || ok.Key != KeyUsable || ok.KeySource != keyPath {
		t.Errorf("good cert: HasPrivateKey=%v Key=%v KeySource=%q", ok.HasPrivateKey, ok.Key, ok.KeySource)
	}
	if inv.Certificates[0].Thumbprint > inv.Certificates[1].Thumbprint {
		t.Error("certificates not sorted by thumbprint")
	}
}

func TestPFX(t *testing.T) {
	ca := certstoretest.NewCA(t)
	key := certstoretest.NewECKey(t)
	leaf := ca.Issue(t, "smtp.contoso.com", &key.PublicKey)
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{ca.Cert}, "Corr3ct-horse")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("right password", func(t *testing.T) {
		dir := tempdir.New(t)
		p := certstoretest.WriteFile(t, dir, "export.pfx", pfx)
		inv := readDir(t, dir, Options{PFXPasswords: []string{"nope", "Corr3ct-horse"}})
		if len(inv.Problems) != 0 {
			t.Fatalf("problems: %v", inv.Problems)
		}
		got := findCert(t, inv, leaf)
		if !got.HasPrivateKey || got.Key != KeyUsable || got.KeySource != p {
			t.Errorf("leaf: %+v", got)
		}
		caGot := findCert(t, inv, ca.Cert)
		if caGot.HasPrivateKey || caGot.Key != KeyAbsent {
			t.Errorf("CA cert from PFX chain: HasPrivateKey=%v Key=%v", caGot.HasPrivateKey, caGot.Key)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		dir := tempdir.New(t)
		p := certstoretest.WriteFile(t, dir, "export.pfx", pfx)
		// The same certificate also exists as a plain .cer: its key may be
		// in the PFX we cannot open, so "absent" would be a guess.
		certstoretest.WriteFile(t, dir, "smtp.cer", leaf.Raw)
		other := ca.Issue(t, "other.contoso.com", &certstoretest.NewECKey(t).PublicKey)
		certstoretest.WriteFile(t, dir, "other.pem", certstoretest.CertPEM(other))

		passwords := []string{"hunter2", "Winter2019!"}
		inv := readDir(t, dir, Options{PFXPasswords: passwords})
		prob := findProblem(inv, p, ErrPFXPassword)
		if prob == nil {
			t.Fatalf("no ErrPFXPassword problem for %s: %v", p, inv.Problems)
		}
		for _, pw := range passwords {
			if strings.Contains(prob.String(), pw) {
				t.Errorf("problem leaks a password: %s", prob)
			}
		}
		got := findCert(t, inv, leaf)
		if got.HasPrivateKey || got.Key != KeyUnknown || !strings.Contains(got.KeyDetail, "export.pfx") {
			t.Errorf("cert whose key may be in locked PFX: HasPrivateKey=%v Key=%v detail=%q", got.HasPrivateKey, got.Key, got.KeyDetail)
		}
		findCert(t, inv, other) // still read
	})

	t.Run("empty password", func(t *testing.T) {
		dir := tempdir.New(t)
		pfx2, err := pkcs12.Modern.Encode(key, leaf, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		certstoretest.WriteFile(t, dir, "nopass.p12", pfx2)
		inv := readDir(t, dir, Options{})
		if got := findCert(t, inv, leaf); got.Key != KeyUsable {
			t.Errorf("Key=%v problems=%v", got.Key, inv.Problems)
		}
	})

	t.Run("key does not match its certificate", func(t *testing.T) {
		dir := tempdir.New(t)
		pfx3, err := pkcs12.Modern.Encode(certstoretest.NewECKey(t), leaf, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		p := certstoretest.WriteFile(t, dir, "mismatch.pfx", pfx3)
		inv := readDir(t, dir, Options{})
		got := findCert(t, inv, leaf)
		if !got.HasPrivateKey || got.Key != KeyUnusable || got.KeySource != p || !strings.Contains(got.KeyDetail, "does not match") {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("hostile iteration count", func(t *testing.T) {
		dir := tempdir.New(t)
		p := certstoretest.WriteFile(t, dir, "slow.pfx", pfx)
		inv := readDir(t, dir, Options{MaxPFXIterations: 1000, PFXPasswords: []string{"Corr3ct-horse"}})
		if findProblem(inv, p, ErrPFXSuspicious) == nil {
			t.Fatalf("want ErrPFXSuspicious, got %v", inv.Problems)
		}
	})
}

func TestDERAndFormats(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	k1 := certstoretest.NewECKey(t)
	c1 := ca.Issue(t, "der.contoso.com", &k1.PublicKey)
	certstoretest.WriteFile(t, dir, "der-cert.cer", c1.Raw)
	k1der, _ := x509.MarshalPKCS8PrivateKey(k1)
	certstoretest.WriteFile(t, dir, "sub/k.der", k1der) // DER key, one level down

	k2 := certstoretest.NewECKey(t)
	c2 := ca.Issue(t, "ec.contoso.com", &k2.PublicKey)
	ecDER, _ := x509.MarshalECPrivateKey(k2)
	// A chain file: cert + CA, then SEC 1 key, in one PEM file.
	certstoretest.WriteFile(t, dir, "bundle.pem", certstoretest.Concat(certstoretest.CertPEM(c2), certstoretest.CertPEM(ca.Cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})))
	// Same CA certificate a second time: reported once, two sources.
	certstoretest.WriteFile(t, dir, "ca.crt", certstoretest.CertPEM(ca.Cert))

	inv := readDir(t, dir, Options{})
	if len(inv.Problems) != 0 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	if len(inv.Certificates) != 3 {
		t.Fatalf("want 3 certs, got %d", len(inv.Certificates))
	}
	if got := findCert(t, inv, c1); got.Key != KeyUsable || got.KeySource != filepath.Join(dir, "sub", "k.der") {
		t.Errorf("DER cert/key: %+v", got)
	}
	if got := findCert(t, inv, c2); got.Key != KeyUsable {
		t.Errorf("bundle cert: %v", got.Key)
	}
	caGot := findCert(t, inv, ca.Cert)
	if len(caGot.Sources) != 2 || caGot.Source != caGot.Sources[0] || caGot.Key != KeyAbsent {
		t.Errorf("duplicate CA: sources=%v key=%v", caGot.Sources, caGot.Key)
	}
}

func TestCorruptFilesDoNotStopTheScan(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	k := certstoretest.NewECKey(t)
	good := ca.Issue(t, "good.contoso.com", &k.PublicKey)
	certstoretest.WriteFile(t, dir, "good.pem", certstoretest.Concat(certstoretest.CertPEM(good), certstoretest.PKCS8PEM(t, k)))

	other := ca.Issue(t, "other.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	full := certstoretest.CertPEM(other)
	truncPEM := certstoretest.WriteFile(t, dir, "truncated.pem", full[:len(full)/2])
	truncDER := certstoretest.WriteFile(t, dir, "truncated.cer", other.Raw[:len(other.Raw)-40])
	garbage := certstoretest.WriteFile(t, dir, "garbage.crt", []byte("\x00\x01\x02 definitely not a certificate"))
	empty := certstoretest.WriteFile(t, dir, "empty.cer", nil)
	badPFX := certstoretest.WriteFile(t, dir, "broken.pfx", []byte{0x30, 0x82, 0x10, 0x00, 0x02, 0x01, 0x03})
	encKey := certstoretest.WriteFile(t, dir, "locked.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}}))
	badBlock := certstoretest.WriteFile(t, dir, "badblock.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	certstoretest.WriteFile(t, dir, "notes.md", []byte("# notes"))

	inv := readDir(t, dir, Options{})
	findCert(t, inv, good)
	for _, want := range []struct {
		src string
		err error
	}{
		{truncPEM, ErrMalformed},
		{truncDER, ErrMalformed},
		{garbage, ErrUnrecognized},
		{empty, ErrUnrecognized},
		{badPFX, ErrMalformed},
		{encKey, ErrEncryptedKey},
		{badBlock, ErrMalformed},
	} {
		if findProblem(inv, want.src, want.err) == nil {
			t.Errorf("no %v problem for %s; problems: %v", want.err, filepath.Base(want.src), inv.Problems)
		}
	}
	if len(inv.Problems) != 7 {
		t.Errorf("want 7 problems, got %d: %v", len(inv.Problems), inv.Problems)
	}
	// The unreadable key files make "absent" unprovable for no cert here:
	// the good cert has its key.
	if got := findCert(t, inv, good); got.Key != KeyUsable {
		t.Errorf("good cert key = %v", got.Key)
	}
}

func TestEncryptedKeyNextToCertificate(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	k := certstoretest.NewECKey(t)
	c := ca.Issue(t, "enc.contoso.com", &k.PublicKey)
	p := certstoretest.WriteFile(t, dir, "enc.pem", certstoretest.Concat(certstoretest.CertPEM(c), pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("ciphertext"),
	})))
	inv := readDir(t, dir, Options{})
	got := findCert(t, inv, c)
	if !got.HasPrivateKey || got.Key != KeyUnusable || got.KeySource != p || !strings.Contains(got.KeyDetail, "encrypted") {
		t.Errorf("got %+v", got)
	}
	if findProblem(inv, p, ErrEncryptedKey) == nil {
		t.Errorf("no ErrEncryptedKey problem: %v", inv.Problems)
	}
}

func TestCorruptKeyStillNamesItsCertificate(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	k := certstoretest.NewRSAKey(t)
	c := ca.Issue(t, "rsa.contoso.com", &k.PublicKey)
	broken := *k
	broken.Primes = append([]*bigInt(nil), k.Primes...)
	broken.Primes[0] = new(bigInt).Add(k.Primes[0], bigOne) // p is no longer prime
	broken.Precomputed = k.Precomputed
	der := marshalPKCS1Unchecked(t, &broken)
	certstoretest.WriteFile(t, dir, "cert.pem", certstoretest.CertPEM(c))
	kp := certstoretest.WriteFile(t, dir, "rsa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
	inv := readDir(t, dir, Options{})
	got := findCert(t, inv, c)
	if !got.HasPrivateKey || got.Key != KeyUnusable || got.KeySource != kp {
		t.Errorf("got %+v problems=%v", got, inv.Problems)
	}
}

func TestFileTooLarge(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	c := ca.Issue(t, "small.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	certstoretest.WriteFile(t, dir, "small.pem", certstoretest.CertPEM(c))
	big := filepath.Join(dir, "huge.pem")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(17 << 20); err != nil { // sparse 17 MiB
		t.Fatal(err)
	}
	f.Close()
	inv := readDir(t, dir, Options{})
	if findProblem(inv, big, ErrFileTooLarge) == nil {
		t.Fatalf("no ErrFileTooLarge: %v", inv.Problems)
	}
	findCert(t, inv, c)

	// A custom cap applies too.
	inv = readDir(t, dir, Options{MaxFileBytes: 100})
	if p := findProblem(inv, filepath.Join(dir, "small.pem"), ErrFileTooLarge); p == nil {
		t.Errorf("MaxFileBytes not honoured: %v", inv.Problems)
	}
}

func TestDepthAndHiddenAndLinks(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	c := ca.Issue(t, "deep.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	certstoretest.WriteFile(t, dir, "a/b/c/deep.pem", certstoretest.CertPEM(c))
	hidden := ca.Issue(t, "hidden.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	certstoretest.WriteFile(t, dir, ".git/hidden.pem", certstoretest.CertPEM(hidden))
	if err := os.Symlink(filepath.Join(dir, "a", "b", "c", "deep.pem"), filepath.Join(dir, "1a2b3c4d.0")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "1a2b3c4d.0")); err != nil {
		// Wine 8's CreateSymbolicLinkW reports success and creates nothing.
		t.Skip("symlink reported as created but absent:", err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}

	inv := readDir(t, dir, Options{})
	if len(inv.Certificates) != 1 {
		t.Fatalf("want 1 cert, got %d", len(inv.Certificates))
	}
	if got := inv.Certificates[0]; len(got.Sources) != 2 {
		t.Errorf("sources = %v (want the file and the hash link)", got.Sources)
	}
	inv = readDir(t, dir, Options{MaxDepth: -1})
	if len(inv.Certificates) != 1 || len(inv.Certificates[0].Sources) != 1 {
		t.Errorf("MaxDepth -1: %+v", inv.Certificates)
	}
}

func TestReadHonoursContext(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	certstoretest.WriteFile(t, dir, "x.pem", certstoretest.CertPEM(ca.Cert))
	s, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestReadMissingDirectory(t *testing.T) {
	s, err := OpenDir(filepath.Join(tempdir.New(t), "nope"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestReadAtUsesNow(t *testing.T) {
	fixed := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	inv := readDir(t, tempdir.New(t), Options{Now: func() time.Time { return fixed }})
	if !inv.ReadAt.Equal(fixed) {
		t.Errorf("ReadAt = %v", inv.ReadAt)
	}
}
