package certdiag

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// storeOf10k builds a realistic 10,000-certificate store: CA-issued leaves
// with SANs, every 10th without key, every 50th expired, pairs sharing an
// identity.
func storeOf10k(b *testing.B) certstore.Contents {
	b.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().AddDate(-5, 0, 0), NotAfter: time.Now().AddDate(10, 0, 0), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inv := certstore.Contents{Location: "pemdir:/bench"}
	now := time.Now()
	for i := range 10_000 {
		notAfter := now.AddDate(1, 0, 0)
		if i%50 == 0 {
			notAfter = now.AddDate(0, 0, -1)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: "host" + itoa(i/2) + ".contoso.com", Organization: []string{"Contoso"}},
			DNSNames: []string{"host" + itoa(i/2) + ".contoso.com", "mail.contoso.com"}, NotBefore: now.AddDate(0, 0, -i%300), NotAfter: notAfter,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &leafKey.PublicKey, caKey)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		key := certstore.KeyUsable
		if i%10 == 0 {
			key = certstore.KeyAbsent
		}
		inv.Certificates = append(inv.Certificates, certstore.Certificate{Thumbprint: thumbprint.Of(c), Cert: c, HasPrivateKey: key == certstore.KeyUsable, Key: key, Source: "f"})
	}
	return inv
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// BenchmarkCertStore10k: every certificate rule over a 10,000-certificate store.
func BenchmarkCertStore10k(b *testing.B) {
	inv := storeOf10k(b)
	b.ResetTimer()
	for b.Loop() {
		fs := CertStore(inv, Options{})
		if len(fs) < 1000 {
			b.Fatalf("%d findings", len(fs))
		}
	}
}
