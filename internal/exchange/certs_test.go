package exchange

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// Test certificate factory: real certificates built with crypto/x509.

var serialCounter atomic.Int64

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	t2024 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2025 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2026 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2027 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	// testNow is "now" for every selection test.
	testNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
)

func newTestCA(t testing.TB, subject pkix.Name) *testCA {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCounter.Add(1)),
		Subject:               subject,
		NotBefore:             t2024.AddDate(-5, 0, 0),
		NotAfter:              t2027.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

// issue creates a leaf signed by ca, or self-signed when ca is nil.
func issue(t testing.TB, ca *testCA, subject pkix.Name, dns []string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialCounter.Add(1)),
		Subject:      subject,
		DNSNames:     dns,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func thumbOf(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// entry wraps a certificate as a store entry with the given key status.
func entry(c *x509.Certificate, key certstore.KeyStatus) certstore.Certificate {
	return certstore.Certificate{
		Thumbprint:    thumbOf(c),
		Cert:          c,
		HasPrivateKey: key == certstore.KeyUsable || key == certstore.KeyUnusable,
		Key:           key,
		Source:        `windows:LocalMachine\My`,
	}
}

func name(cn string, o, c string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if o != "" {
		n.Organization = []string{o}
	}
	if c != "" {
		n.Country = []string{c}
	}
	return n
}

var (
	digicertG2 = name("DigiCert Global G2 TLS RSA SHA256 2020 CA1", "DigiCert Inc", "US")
	leR3       = name("R3", "Let's Encrypt", "US")
	leR10      = name("R10", "Let's Encrypt", "US")
	contoso    = name("mail.contoso.com", "Contoso", "NL")
)

const (
	digicertG2DN = "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US"
	contosoDN    = "CN=mail.contoso.com, O=Contoso, C=NL"
)
