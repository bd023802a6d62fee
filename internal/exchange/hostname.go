package exchange

import (
	"crypto/x509"
	"strings"
)

// NameMatch says how a certificate matched a host name.
type NameMatch string

// Ways a certificate can match a name.
const (
	NameNoMatch  NameMatch = ""
	NameExact    NameMatch = "exact"
	NameWildcard NameMatch = "wildcard"
)

// normalizeHost lower-cases and strips a trailing dot.
func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// CertificateNames returns the certificate's subject CN values followed by its
// DNS SANs, normalised and de-duplicated, in that order.
func CertificateNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = normalizeHost(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, cn := range SubjectDN(c).CommonNames() {
		add(cn)
	}
	for _, d := range c.DNSNames {
		add(d)
	}
	return out
}

// MatchHost reports how certificate name pattern matches host: exactly, or
// through a left-most "*" label covering exactly one label of host.
func MatchHost(pattern, host string) NameMatch {
	p, h := normalizeHost(pattern), normalizeHost(host)
	if p == "" || h == "" {
		return NameNoMatch
	}
	if p == h {
		return NameExact
	}
	if rest, ok := strings.CutPrefix(p, "*."); ok && rest != "" && !strings.Contains(rest, "*") {
		if i := strings.IndexByte(h, '.'); i > 0 && h[i+1:] == rest {
			return NameWildcard
		}
	}
	return NameNoMatch
}

// MatchCertificateName returns the best match of host against c's CN/SANs
// (exact beats wildcard).
func MatchCertificateName(c *x509.Certificate, host string) NameMatch {
	best := NameNoMatch
	for _, n := range CertificateNames(c) {
		switch MatchHost(n, host) {
		case NameExact:
			return NameExact
		case NameWildcard:
			best = NameWildcard
		}
	}
	return best
}
