package lab_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

func newCA(t *testing.T) *lab.CA {
	t.Helper()
	ca, err := lab.NewCA("test root")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueDefaults(t *testing.T) {
	ca := newCA(t)
	is, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab"})
	if err != nil {
		t.Fatal(err)
	}
	c := is.Cert
	if _, ok := is.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("default key %T, want ECDSA", is.Key)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "mail.contoso.lab" {
		t.Errorf("DNSNames = %v, want the CN", c.DNSNames)
	}
	if d := c.NotAfter.Sub(c.NotBefore); d < 364*24*time.Hour || d > 367*24*time.Hour {
		t.Errorf("validity %v, want one year", d)
	}
	if time.Now().Before(c.NotBefore) {
		t.Error("not valid now")
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "mail.contoso.lab"})
	if err != nil {
		t.Errorf("verify: %v", err)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU = %v", c.ExtKeyUsage)
	}
	if tp := is.Thumbprint(); len(tp) != 40 || tp != thumbprint.Of(c) {
		t.Errorf("thumbprint %q", tp)
	}
	tc := is.TLSCertificate()
	if len(tc.Certificate) != 2 {
		t.Errorf("TLS chain has %d certs, want leaf+CA", len(tc.Certificate))
	}
}

func TestIssuePEM(t *testing.T) {
	ca := newCA(t)
	is, err := ca.Issue(lab.IssueOptions{CommonName: "x.lab", KeyType: lab.KeyRSA, RSABits: 1024, ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := is.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(kp)
	if b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM block %v", b)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 1024 {
		t.Fatalf("key %T", k)
	}
	cb, _ := pem.Decode(is.CertPEM())
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil || !c.Equal(is.Cert) {
		t.Fatalf("cert PEM round trip: %v", err)
	}
	if !rk.PublicKey.Equal(c.PublicKey) {
		t.Error("key does not match certificate")
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("EKU = %v", c.ExtKeyUsage)
	}
	if cb, _ := pem.Decode(ca.CertPEM()); cb == nil {
		t.Error("CA PEM")
	}
}

func TestIntermediateChain(t *testing.T) {
	root := newCA(t)
	inter, err := root.Issue(lab.IssueOptions{CommonName: "inter", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	ica, err := inter.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ica.Issue(lab.IssueOptions{CommonName: "leaf.lab"})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Chain) != 2 || !leaf.Chain[0].Equal(inter.Cert) || !leaf.Chain[1].Equal(root.Cert) {
		t.Fatalf("chain %v", leaf.Chain)
	}
	if n := len(leaf.TLSCertificate().Certificate); n != 3 {
		t.Errorf("full TLS chain %d certs", n)
	}
	if n := len(leaf.LeafOnlyTLSCertificate().Certificate); n != 1 {
		t.Errorf("leaf-only TLS chain %d certs", n)
	}
	ipool := x509.NewCertPool()
	ipool.AddCert(inter.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: root.Pool(), Intermediates: ipool}); err != nil {
		t.Errorf("with intermediate: %v", err)
	}
	var ua x509.UnknownAuthorityError
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: root.Pool()}); !errors.As(err, &ua) {
		t.Errorf("without intermediate: %v, want UnknownAuthorityError", err)
	}
	if _, err := leaf.AsCA(); !errors.Is(err, lab.ErrNotCA) {
		t.Errorf("AsCA on leaf: %v", err)
	}
}

func TestSelfSignedAndValidity(t *testing.T) {
	ca := newCA(t)
	ss, err := ca.Issue(lab.IssueOptions{CommonName: "SERVER", SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if ss.Cert.Issuer.String() != ss.Cert.Subject.String() || len(ss.Chain) != 0 {
		t.Errorf("self-signed issuer %s chain %d", ss.Cert.Issuer, len(ss.Chain))
	}
	if err := ss.Cert.CheckSignature(ss.Cert.SignatureAlgorithm, ss.Cert.RawTBSCertificate, ss.Cert.Signature); err != nil {
		t.Errorf("self signature: %v", err)
	}
	past := time.Now().AddDate(0, -1, 0)
	exp, err := ca.Issue(lab.IssueOptions{CommonName: "old.lab", NotAfter: past})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Cert.NotAfter.Equal(past.Truncate(time.Second)) || !exp.Cert.NotBefore.Before(past) {
		t.Errorf("expired validity %v..%v", exp.Cert.NotBefore, exp.Cert.NotAfter)
	}
}

// Go 1.26 still creates SHA1WithRSA signatures; it only refuses to verify them.
func TestSHA1Signature(t *testing.T) {
	root := newCA(t)
	rsaInter, err := root.Issue(lab.IssueOptions{CommonName: "rsa inter", IsCA: true, KeyType: lab.KeyRSA, RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	ica, err := rsaInter.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ica.Issue(lab.IssueOptions{CommonName: "sha1.lab", SignatureAlgorithm: x509.SHA1WithRSA})
	if err != nil {
		t.Fatalf("SHA1WithRSA: %v", err)
	}
	if leaf.Cert.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Fatalf("signature %v", leaf.Cert.SignatureAlgorithm)
	}
	var ia x509.InsecureAlgorithmError
	if err := leaf.Cert.CheckSignatureFrom(rsaInter.Cert); !errors.As(err, &ia) {
		t.Errorf("verify SHA-1: %v, want InsecureAlgorithmError", err)
	}
}
