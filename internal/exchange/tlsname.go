package exchange

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// TLSCertificateName is a connector's TlsCertificateName
// (Exchange's SmtpX509Identifier): an issuer and a subject DN, written
// "<I>issuer DN<S>subject DN".
type TLSCertificateName struct {
	Issuer  string
	Subject string
}

const (
	tlsNameIssuerTag  = "<I>"
	tlsNameSubjectTag = "<S>"
)

// String renders the Exchange form "<I>issuer<S>subject".
func (n TLSCertificateName) String() string {
	return tlsNameIssuerTag + n.Issuer + tlsNameSubjectTag + n.Subject
}

// ParseTLSCertificateName splits "<I>issuer DN<S>subject DN". The tags are
// matched case-insensitively; both DNs must be non-empty and parse as DNs.
// Errors wrap ErrInvalidTLSCertificateName.
func ParseTLSCertificateName(s string) (TLSCertificateName, error) {
	bad := func(format string, args ...any) (TLSCertificateName, error) {
		return TLSCertificateName{}, fmt.Errorf("%w: %q: %s", ErrInvalidTLSCertificateName, s, fmt.Sprintf(format, args...))
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return bad("empty")
	}
	u := asciiUpper(t) // same byte offsets as t, unlike strings.ToUpper
	iCount, sCount := strings.Count(u, tlsNameIssuerTag), strings.Count(u, tlsNameSubjectTag)
	switch {
	case iCount == 0 && sCount == 0:
		return bad("missing <I> and <S> tags (want <I>issuer<S>subject)")
	case iCount == 0:
		return bad("missing <I> tag (want <I>issuer<S>subject)")
	case sCount == 0:
		return bad("missing <S> tag (want <I>issuer<S>subject)")
	case iCount > 1 || sCount > 1:
		return bad("more than one <I> or <S> tag")
	}
	iPos, sPos := strings.Index(u, tlsNameIssuerTag), strings.Index(u, tlsNameSubjectTag)
	if sPos < iPos {
		return bad("<S> before <I> (want <I>issuer<S>subject)")
	}
	if iPos != 0 {
		return bad("text before <I>")
	}
	n := TLSCertificateName{
		Issuer:  strings.TrimSpace(t[iPos+len(tlsNameIssuerTag) : sPos]),
		Subject: strings.TrimSpace(t[sPos+len(tlsNameSubjectTag):]),
	}
	if n.Issuer == "" {
		return bad("empty issuer")
	}
	if n.Subject == "" {
		return bad("empty subject")
	}
	if _, err := ParseDN(n.Issuer); err != nil {
		return bad("issuer: %v", err)
	}
	if _, err := ParseDN(n.Subject); err != nil {
		return bad("subject: %v", err)
	}
	return n, nil
}

// Matches reports whether c's issuer and subject equal the name's DNs (see
// DN.Equal). subjectOK tells whether the subject alone matched.
func (n TLSCertificateName) Matches(c *x509.Certificate) (match, subjectOK bool) {
	if c == nil {
		return false, false
	}
	sub, err := ParseDN(n.Subject)
	if err != nil || !sub.Equal(SubjectDN(c)) {
		return false, false
	}
	iss, err := ParseDN(n.Issuer)
	if err != nil {
		return false, true
	}
	return iss.Equal(IssuerDN(c)), true
}

// TLSCertificateNameFor builds the TlsCertificateName that designates c, in
// the Windows DN spelling Set-SendConnector expects.
func TLSCertificateNameFor(c *x509.Certificate) TLSCertificateName {
	return TLSCertificateName{Issuer: WindowsDN(rdnSeq(c.RawIssuer, c.Issuer)), Subject: WindowsDN(rdnSeq(c.RawSubject, c.Subject))}
}

func rdnSeq(raw []byte, fallback pkix.Name) pkix.RDNSequence {
	var seq pkix.RDNSequence
	if len(raw) > 0 {
		if rest, err := asn1.Unmarshal(raw, &seq); err == nil && len(rest) == 0 {
			return seq
		}
	}
	return fallback.ToRDNSequence()
}

// asciiUpper upper-cases ASCII letters only, keeping every byte offset.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
