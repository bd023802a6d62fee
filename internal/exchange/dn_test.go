package exchange

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestEqualDNStrings(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		// Windows order vs RFC 4514 / Go order and reversed ASN.1 order.
		{"CN=R3, O=Let's Encrypt, C=US", "CN=R3,O=Let's Encrypt,C=US", true},
		{"CN=R3, O=Let's Encrypt, C=US", "C=US, O=Let's Encrypt, CN=R3", true},
		{"CN=R3, O=Let's Encrypt, C=US", "cn=r3,o=let's encrypt,c=us", true},
		{"CN=R3, O=Let's Encrypt, C=US", "CN=R10, O=Let's Encrypt, C=US", false},
		{"CN=R3, O=Let's Encrypt, C=US", "CN=R3, O=Let's Encrypt", false},
		{digicertG2DN, "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US", true},
		{digicertG2DN, "C=US;O=DigiCert Inc;CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1", true},
		// Quoted commas (Windows) vs backslash escapes (RFC 4514).
		{`CN=mail.contoso.com, O="Contoso, Ltd.", C=NL`, `CN=mail.contoso.com,O=Contoso\, Ltd.,C=NL`, true},
		{`CN=mail.contoso.com, O="Contoso, Ltd.", C=NL`, `CN=mail.contoso.com,O=Contoso\2C Ltd.,C=NL`, true},
		{`CN=mail.contoso.com, O="Contoso, Ltd.", C=NL`, `CN=mail.contoso.com, O=Contoso, C=NL`, false},
		{`O="Say ""Hi"""`, `O=Say \"Hi\"`, true},
		{`CN="a+b", O=x`, `CN=a\+b,O=x`, true},
		// White space and keyword aliases.
		{"CN=mail.contoso.com ,  O=Contoso   Ltd , C=NL", "CN=mail.contoso.com,O=Contoso Ltd,C=NL", true},
		{"CN=x, S=Noord-Holland, C=NL", "CN=x,ST=Noord-Holland,C=NL", true},
		{"E=admin@contoso.com, CN=x", "emailAddress=admin@contoso.com,CN=x", true},
		{"OID.2.5.4.3=x, O=y", "CN=x, O=y", true},
		{"2.5.4.3=#0c0178, O=y", "CN=x, O=y", true},
		// Multi-valued RDN in either order.
		{"CN=a + OU=b, O=c", "O=c,OU=b+CN=a", true},
		// White space is normalised even when escaped or quoted.
		{`CN=a\ , O=b`, `CN="a ", O=b`, true},
		{`CN=a\ , O=b`, `CN=a, O=b`, true},
	}
	for _, tt := range tests {
		got, err := EqualDNStrings(tt.a, tt.b)
		if err != nil {
			t.Errorf("EqualDNStrings(%q, %q): %v", tt.a, tt.b, err)
			continue
		}
		if got != tt.want {
			t.Errorf("EqualDNStrings(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseDNErrors(t *testing.T) {
	for _, s := range []string{
		"", "   ", "CN", "CN=a,", "=a", `CN="abc`, `CN="a"b`, `CN=a\`, "CN=a,,O=b", `CN=a"b`, "C N=x", "CN=a, garbage",
		// An unquoted comma inside a value splits it: "Inc." has no '='.
		"CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert, Inc., C=US",
	} {
		_, err := ParseDN(s)
		if err == nil {
			t.Errorf("ParseDN(%q): want error", s)
			continue
		}
		if !errors.Is(err, ErrInvalidDN) {
			t.Errorf("ParseDN(%q): error %v does not wrap ErrInvalidDN", s, err)
		}
	}
}

func TestDNAgainstCertificate(t *testing.T) {
	subject := pkix.Name{
		CommonName:   "mail.contoso.com",
		Organization: []string{"Contoso, Ltd."},
		Locality:     []string{"Amsterdam"},
		Province:     []string{"Noord-Holland"},
		Country:      []string{"NL"},
	}
	ca := newTestCA(t, leR3)
	c := issue(t, ca, subject, []string{"mail.contoso.com"}, t2025, t2026)

	for _, s := range []string{
		`CN=mail.contoso.com, O="Contoso, Ltd.", L=Amsterdam, S=Noord-Holland, C=NL`, // Windows
		c.Subject.String(), // Go / RFC 4514
		`C=NL, S=Noord-Holland, L=Amsterdam, O="Contoso, Ltd.", CN=mail.contoso.com`,
	} {
		d, err := ParseDN(s)
		if err != nil {
			t.Fatalf("ParseDN(%q): %v", s, err)
		}
		if !d.Equal(SubjectDN(c)) {
			t.Errorf("%q does not equal the certificate subject", s)
		}
	}
	iss, err := ParseDN("CN=R3, O=Let's Encrypt, C=US")
	if err != nil {
		t.Fatal(err)
	}
	if !iss.Equal(IssuerDN(c)) {
		t.Error("issuer DN does not match")
	}
	if iss.Equal(SubjectDN(c)) {
		t.Error("issuer DN equals subject DN")
	}
	// WindowsDN renders what X509Certificate2.Subject shows.
	seq := rdnSeq(c.RawSubject, c.Subject)
	if got, want := WindowsDN(seq), `CN=mail.contoso.com, O="Contoso, Ltd.", L=Amsterdam, S=Noord-Holland, C=NL`; got != want {
		t.Errorf("WindowsDN = %q, want %q", got, want)
	}
}

func TestDNNonStringAttribute(t *testing.T) {
	// An attribute whose value is not a string is compared by its DER.
	seq := pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: 42}}, {{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "x"}}}
	d := DNFromRDNSequence(seq)
	p, err := ParseDN("CN=x, 1.2.3.4=#02012a")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(d) {
		t.Errorf("DER-valued attribute: %v != %v", p, d)
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{digicertG2DN, `O="a, b"`, `CN=a\2Cb`, "CN=a+OU=b", "#", `"`, "2.5.4.3=#0c0178"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDN(s)
		if err == nil {
			_ = d.Equal(d)
		}
		_, _ = ParseTLSCertificateName("<I>" + s + "<S>" + s)
	})
}
