package protolog

import (
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// CertRole says whose certificate a block describes.
type CertRole uint8

// Certificate roles.
const (
	CertRoleUnknown CertRole = iota
	CertRoleLocal            // "Sending certificate": the one this server presented
	CertRoleRemote           // "Remote certificate" / "Received certificate": the peer's
)

// String returns "local", "remote" or "unknown".
func (r CertRole) String() string {
	switch r {
	case CertRoleLocal:
		return "local"
	case CertRoleRemote:
		return "remote"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (r CertRole) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *CertRole) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "local":
		*r = CertRoleLocal
	case "remote":
		*r = CertRoleRemote
	default:
		*r = CertRoleUnknown
	}
	return nil
}

// Certificate is one certificate logged in a session, from either the
// multi-row block or the condensed single-row form.
type Certificate struct {
	Role           CertRole  `json:"role"`
	Label          string    `json:"label"` // e.g. "Sending certificate"
	Subject        string    `json:"subject,omitempty"`
	Issuer         string    `json:"issuer,omitempty"`
	SerialNumber   string    `json:"serialNumber,omitempty"`
	Thumbprint     string    `json:"thumbprint,omitempty"` // as logged, normalized (package thumbprint)
	AlternateNames []string  `json:"alternateNames,omitempty"`
	NotBefore      time.Time `json:"notBefore,omitzero"`
	NotAfter       time.Time `json:"notAfter,omitzero"`
	NotBeforeRaw   string    `json:"notBeforeRaw,omitempty"`
	NotAfterRaw    string    `json:"notAfterRaw,omitempty"`
	Condensed      bool      `json:"condensed,omitempty"` // parsed from the single-row form
	Time           time.Time `json:"time,omitzero"`       // time of the block's first row
}

// Context labels (compared case-insensitively).
const (
	ctxSendingCert  = "Sending certificate"
	ctxRemoteCert   = "Remote certificate"
	ctxReceivedCert = "Received certificate"
	ctxSubject      = "Certificate subject"
	ctxIssuer       = "Certificate issuer name"
	ctxSerial       = "Certificate serial number"
	ctxThumbprint   = "Certificate thumbprint"
	ctxAltNames     = "Certificate alternate names"
)

// certBlockRole reports whether ctx opens a certificate block (exact label)
// or is a condensed single-row certificate (label followed by field names).
func certBlockRole(ctx []byte) (role CertRole, label string, condensed, ok bool) {
	for _, c := range [...]struct {
		label string
		role  CertRole
	}{{ctxSendingCert, CertRoleLocal}, {ctxRemoteCert, CertRoleRemote}, {ctxReceivedCert, CertRoleRemote}} {
		if len(ctx) < len(c.label) || !equalFoldASCII(ctx[:len(c.label)], c.label) {
			continue
		}
		rest := ctx[len(c.label):]
		if len(rest) == 0 {
			return c.role, c.label, false, true
		}
		if rest[0] == ' ' && hasPrefixFold(trimSpaceBytes(rest), "Subject") {
			return c.role, c.label, true, true
		}
	}
	return 0, "", false, false
}

// splitAltNames splits the SAN field: Exchange joins names with ';'.
// Commas and spaces are tolerated as separators too.
func splitAltNames(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
	if len(f) > maxAltNames {
		f = f[:maxAltNames]
	}
	return f
}

const maxAltNames = 256

// parseCondensedCert parses the data of the condensed single-row form,
// whose context is "Sending certificate Subject Issuer name Serial number
// Thumbprint Not before Not after Subject alternate names" and whose data
// holds the values joined by single spaces. Because DNs and dates contain
// spaces, the split is heuristic:
//
//  1. Tokenise on spaces. The thumbprint is a token of exactly 40 hex
//     digits immediately preceded by another all-hex token (the serial
//     number). Of several candidates, the first one followed by a
//     date-like token (or by nothing) wins; otherwise the first one.
//  2. Everything before the serial is "subject issuer". A DN is a list of
//     "attr=value" RDNs joined by ", ", so every RDN after the first
//     starts after a token ending in ','. The issuer starts at the first
//     token that looks like an attribute ("CN=", "O=", "2.5.4.3=", ...)
//     whose predecessor does NOT end in ',' and which is outside double
//     quotes. If no such token exists, the whole prefix is the subject.
//  3. After the thumbprint, a token containing a digit and '/', '-' or '.'
//     starts a date; following tokens containing ':' or equal to AM/PM
//     (any case) belong to it. The first date is NotBefore, the second
//     NotAfter. Remaining tokens are the alternate names.
//
// If no thumbprint candidate exists the data is kept as Subject so that
// nothing is lost.
func parseCondensedCert(data string, c *Certificate) {
	c.Condensed = true
	tok := strings.Fields(data)
	if len(tok) > 4096 {
		tok = tok[:4096]
	}
	ti := -1
	for i := 1; i < len(tok); i++ {
		if !isHexLen(tok[i], 40, 40) || !isHexLen(tok[i-1], 1, 128) {
			continue
		}
		if ti < 0 {
			ti = i
		}
		if i+1 == len(tok) || looksLikeDate(tok[i+1]) {
			ti = i
			break
		}
	}
	if ti < 0 {
		c.Subject = strings.TrimSpace(data)
		return
	}
	c.Thumbprint = thumbprint.Normalize(tok[ti])
	c.SerialNumber = tok[ti-1]
	c.Subject, c.Issuer = splitSubjectIssuer(tok[:ti-1])

	rest := tok[ti+1:]
	var dates []string
	i := 0
	for i < len(rest) && len(dates) < 2 && looksLikeDate(rest[i]) {
		d := rest[i]
		i++
		for i < len(rest) && (strings.Contains(rest[i], ":") || strings.EqualFold(rest[i], "AM") || strings.EqualFold(rest[i], "PM")) && !looksLikeDate(rest[i]) {
			d += " " + rest[i]
			i++
		}
		dates = append(dates, d)
	}
	if len(dates) > 0 {
		c.NotBeforeRaw = dates[0]
		c.NotBefore, _ = parseLooseTime(dates[0])
	}
	if len(dates) > 1 {
		c.NotAfterRaw = dates[1]
		c.NotAfter, _ = parseLooseTime(dates[1])
	}
	if i < len(rest) {
		c.AlternateNames = splitAltNames(strings.Join(rest[i:], " "))
	}
}

func splitSubjectIssuer(tok []string) (subject, issuer string) {
	inQuote := false
	for k, t := range tok {
		if k > 0 && !inQuote && looksLikeRDNStart(t) && !strings.HasSuffix(tok[k-1], ",") {
			return strings.Join(tok[:k], " "), strings.Join(tok[k:], " ")
		}
		if strings.Count(t, `"`)%2 == 1 {
			inQuote = !inQuote
		}
	}
	return strings.Join(tok, " "), ""
}

// looksLikeRDNStart reports whether t starts with an X.500 attribute type
// followed by '=': letters/digits/'.'/'-' beginning with a letter or digit.
func looksLikeRDNStart(t string) bool {
	eq := strings.IndexByte(t, '=')
	if eq <= 0 || eq > 40 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := t[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func looksLikeDate(t string) bool {
	digit, sep := false, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c == '/' || c == '-' || c == '.':
			sep = true
		case c == 'T' || c == 'Z' || c == ':' || c == '+':
		default:
			return false
		}
	}
	return digit && sep
}

func isHexLen(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

var looseLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 15:04:05",
	"1/2/2006",
	"02.01.2006 15:04:05",
	"2006-01-02",
}

// parseLooseTime parses the date formats seen in condensed certificate
// rows and queue LastRetryTime values. Times without zone are UTC.
func parseLooseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range looseLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
