package revocation

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// Responders and CRL servers are untrusted input: whatever they return
// must be refused or parsed, never panic. Seeds: a real response and CRL
// of the lab PKI (testdata/fuzz holds more).
func fuzzPKI(f *testing.F) (*lab.CA, *lab.Issued, *lab.RevocationResponder) {
	f.Helper()
	ca, err := lab.NewCA("fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	r, err := lab.NewRevocationResponder(ca)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = r.Close() })
	leaf, err := ca.Issue(lab.IssueOptions{CommonName: "fuzz.example"}) // no URLs: only the stapled path runs
	if err != nil {
		f.Fatal(err)
	}
	return ca, leaf, r
}

func FuzzParseOCSP(f *testing.F) {
	ca, leaf, r := fuzzPKI(f)
	good, err := r.Staple(leaf.Cert)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	r.Revoke(leaf.Cert, time.Now(), 1)
	revoked, _ := r.Staple(leaf.Cert)
	f.Add(revoked)
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x01}) // malformedRequest
	f.Fuzz(func(t *testing.T, der []byte) {
		resp, err := ParseOCSP(der, leaf.Cert, ca.Cert)
		if err == nil && resp == nil {
			t.Fatal("nil response without error")
		}
		c := New(Options{})
		res := Result{Cert: leaf.Cert}
		c.checkOne(t.Context(), &res, ca.Cert, der)
	})
}

func FuzzParseCRL(f *testing.F) {
	ca, err := lab.NewCA("fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		crl, err := ParseCRL(der, ca.Cert)
		if err == nil && crl == nil {
			t.Fatal("nil CRL without error")
		}
		var _ *x509.RevocationList = crl
	})
}
