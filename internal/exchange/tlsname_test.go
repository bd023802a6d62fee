package exchange

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTLSCertificateName(t *testing.T) {
	n, err := ParseTLSCertificateName("<I>" + digicertG2DN + "<S>" + contosoDN)
	if err != nil {
		t.Fatal(err)
	}
	if n.Issuer != digicertG2DN || n.Subject != contosoDN {
		t.Errorf("got %+v", n)
	}
	if got := n.String(); got != "<I>"+digicertG2DN+"<S>"+contosoDN {
		t.Errorf("String() = %q", got)
	}
	// Tags are case-insensitive; surrounding space is trimmed.
	n, err = ParseTLSCertificateName("  <i> CN=R3, O=Let's Encrypt, C=US <s> CN=mail.contoso.com ")
	if err != nil {
		t.Fatal(err)
	}
	if n.Issuer != "CN=R3, O=Let's Encrypt, C=US" || n.Subject != "CN=mail.contoso.com" {
		t.Errorf("got %+v", n)
	}
	// Quoted commas inside the DNs.
	if _, err := ParseTLSCertificateName(`<I>CN=CA, O="Contoso, Ltd."<S>CN=mail.contoso.com, O="Contoso, Ltd."`); err != nil {
		t.Errorf("quoted commas: %v", err)
	}
}

func TestParseTLSCertificateNameErrors(t *testing.T) {
	tests := []struct{ in, wantMsg string }{
		{"", "empty"},
		{"CN=mail.contoso.com", "missing <I> and <S>"},
		{"<I>CN=R3", "missing <S>"},
		{"<S>CN=mail.contoso.com", "missing <I>"},
		{"<S>CN=mail.contoso.com<I>CN=R3", "<S> before <I>"},
		{"<I><S>CN=mail.contoso.com", "empty issuer"},
		{"<I>CN=R3<S>", "empty subject"},
		{"<I>CN=R3<S>CN=a<S>CN=b", "more than one"},
		{"x<I>CN=R3<S>CN=a", "text before <I>"},
		{"<I>R3<S>CN=a", "issuer"},
		{"<I>CN=R3<S>mail.contoso.com", "subject"},
	}
	for _, tt := range tests {
		_, err := ParseTLSCertificateName(tt.in)
		if err == nil {
			t.Errorf("%q: want error", tt.in)
			continue
		}
		if !errors.Is(err, ErrInvalidTLSCertificateName) {
			t.Errorf("%q: %v does not wrap ErrInvalidTLSCertificateName", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%q: error %q lacks %q", tt.in, err, tt.wantMsg)
		}
	}
}

func TestTLSCertificateNameMatches(t *testing.T) {
	r3 := newTestCA(t, leR3)
	r10 := newTestCA(t, leR10)
	c := issue(t, r3, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)
	other := issue(t, r10, name("mail.contoso.com", "", ""), []string{"mail.contoso.com"}, t2025, t2026)

	n := TLSCertificateName{Issuer: "CN=R3, O=Let's Encrypt, C=US", Subject: "CN=mail.contoso.com"}
	if m, sub := n.Matches(c); !m || !sub {
		t.Errorf("Matches(R3 cert) = %v, %v", m, sub)
	}
	if m, sub := n.Matches(other); m || !sub {
		t.Errorf("Matches(R10 cert) = %v, %v; want false, true", m, sub)
	}
	if m, _ := n.Matches(nil); m {
		t.Error("Matches(nil)")
	}
	// TLSCertificateNameFor builds a name that parses and matches.
	built := TLSCertificateNameFor(c)
	if built.String() != "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com" {
		t.Errorf("TLSCertificateNameFor = %q", built)
	}
	parsed, err := ParseTLSCertificateName(built.String())
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := parsed.Matches(c); !m {
		t.Error("built name does not match its certificate")
	}
}
