package exchange

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
)

func TestIsSelfSigned(t *testing.T) {
	root := newTestCA(t, pkix.Name{CommonName: "Contoso Root"})
	// The same CA name with a new key (a rollover) signed by the old key:
	// issuer and subject bytes are equal, the signature is not its own.
	rolledKey := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCounter.Add(1)),
		Subject:               pkix.Name{CommonName: "Contoso Root"},
		NotBefore:             t2024,
		NotAfter:              t2027,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		AuthorityKeyId:        []byte{1, 2, 3, 4},
		SubjectKeyId:          []byte{5, 6, 7, 8},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, &rolledKey.PublicKey, root.key)
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		c    *x509.Certificate
		want bool
	}{
		{"self-signed root CA", root.cert, true},
		// Exchange's default certificate: self-signed, not a CA (which
		// CheckSignatureFrom would refuse as its own parent).
		{"self-signed leaf without CA flag", issue(t, nil, name("EDGE01", "", ""), []string{"edge01"}, t2024, t2027), true},
		{"leaf issued by a CA", issue(t, root, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2024, t2027), false},
		{"same name, another key's signature (CA rollover)", rolled, false},
		// Go leaves the authority key identifier out when issuer and
		// subject are equal: a verifiable wrong signature still decides.
		{"leaf named like its CA, no key identifiers", issue(t, root, pkix.Name{CommonName: "Contoso Root"}, nil, t2024, t2027), false},
	}
	for _, tc := range cases {
		if got := IsSelfSigned(tc.c); got != tc.want {
			t.Errorf("%s: IsSelfSigned = %v, want %v", tc.name, got, tc.want)
		}
	}
}
