package exchange

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Distinguished names come in several spellings for the same certificate:
//
//   - Windows (X509Certificate2.Subject, Get-ExchangeCertificate, TlsCertificateName):
//     `CN=mail.contoso.com, O="Contoso, Ltd", L=Amsterdam, S=Noord-Holland, C=NL`
//     (most specific first, ", " separators, values with specials in double
//     quotes with "" for a quote, S= for the state, E= for e-mail, OID.x.y= for
//     unnamed attributes);
//   - RFC 4514 / Go's pkix.Name.String(): `CN=mail.contoso.com,O=Contoso\, Ltd,...`
//     (backslash escapes, ST=, unknown attributes as dotted OID =#hexDER);
//   - the ASN.1 RDNSequence in the certificate, least specific first.
//
// A DN is therefore compared as a sequence of RDNs, each a set of
// (attribute OID, normalised value) pairs, accepting the sequence in either
// order; as a last resort the flattened multisets of pairs are compared.

// AttributeValue is one attribute of an RDN, normalised for comparison.
type AttributeValue struct {
	// Type is the dotted OID ("2.5.4.3"), or the upper-cased keyword when the
	// keyword is not known.
	Type string
	// Value is case-folded with runs of white space collapsed.
	Value string
}

// DN is a parsed, normalised distinguished name in the order it was written.
// Each RDN's attributes are sorted.
type DN [][]AttributeValue

// attribute keywords -> OIDs. Windows, RFC 4514 and OpenSSL spellings.
var dnKeywords = map[string]string{
	"CN":                     "2.5.4.3",
	"SN":                     "2.5.4.4", // surname (Windows); not RFC 4514
	"SURNAME":                "2.5.4.4",
	"SERIALNUMBER":           "2.5.4.5",
	"C":                      "2.5.4.6",
	"L":                      "2.5.4.7",
	"S":                      "2.5.4.8",
	"ST":                     "2.5.4.8",
	"STREET":                 "2.5.4.9",
	"O":                      "2.5.4.10",
	"OU":                     "2.5.4.11",
	"T":                      "2.5.4.12",
	"TITLE":                  "2.5.4.12",
	"DESCRIPTION":            "2.5.4.13",
	"POSTALCODE":             "2.5.4.17",
	"G":                      "2.5.4.42",
	"GN":                     "2.5.4.42",
	"GIVENNAME":              "2.5.4.42",
	"I":                      "2.5.4.43",
	"INITIALS":               "2.5.4.43",
	"E":                      "1.2.840.113549.1.9.1",
	"EMAIL":                  "1.2.840.113549.1.9.1",
	"EMAILADDRESS":           "1.2.840.113549.1.9.1",
	"DC":                     "0.9.2342.19200300.100.1.25",
	"UID":                    "0.9.2342.19200300.100.1.1",
	"ORGANIZATIONIDENTIFIER": "2.5.4.97",
}

// ParseDN parses a DN string in Windows or RFC 4514 syntax. Errors wrap ErrInvalidDN.
func ParseDN(s string) (DN, error) {
	p := dnParser{s: s}
	dn, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidDN, s, err)
	}
	return dn, nil
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *dnParser) parse() (DN, error) {
	var dn DN
	var rdn []AttributeValue
	p.skipSpace()
	if p.i == len(p.s) {
		return nil, fmt.Errorf("empty")
	}
	for {
		p.skipSpace()
		if p.i == len(p.s) {
			return nil, fmt.Errorf("trailing separator")
		}
		typ, err := p.parseType()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		val, err := p.parseValue()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", typ, err)
		}
		rdn = append(rdn, AttributeValue{Type: typ, Value: val})
		p.skipSpace()
		if p.i == len(p.s) {
			dn = append(dn, sortRDN(rdn))
			return dn, nil
		}
		switch p.s[p.i] {
		case '+':
			p.i++
		case ',', ';':
			p.i++
			dn = append(dn, sortRDN(rdn))
			rdn = nil
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
		}
	}
}

func (p *dnParser) parseType() (string, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '=' {
		switch p.s[p.i] {
		case ',', ';', '+', '"', '\\':
			return "", fmt.Errorf("attribute %q without '='", strings.TrimSpace(p.s[start:p.i]))
		}
		p.i++
	}
	if p.i == len(p.s) {
		return "", fmt.Errorf("attribute %q without '='", strings.TrimSpace(p.s[start:]))
	}
	typ := strings.TrimSpace(p.s[start:p.i])
	p.i++ // '='
	if typ == "" {
		return "", fmt.Errorf("empty attribute type at offset %d", start)
	}
	return normalizeAttrType(typ)
}

func normalizeAttrType(typ string) (string, error) {
	u := strings.ToUpper(typ)
	u = strings.TrimPrefix(u, "OID.")
	if oid, ok := dnKeywords[u]; ok {
		return oid, nil
	}
	isOID := u != "" && u[0] >= '0' && u[0] <= '9'
	for _, r := range u {
		switch {
		case r >= '0' && r <= '9', r == '.' && isOID:
		case !isOID && (r >= 'A' && r <= 'Z' || r == '-'):
		default:
			return "", fmt.Errorf("bad attribute type %q", typ)
		}
	}
	return u, nil
}

func (p *dnParser) parseValue() (string, error) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		return p.parseQuoted()
	}
	if p.i < len(p.s) && p.s[p.i] == '#' {
		start := p.i + 1
		p.i++
		for p.i < len(p.s) && isHex(p.s[p.i]) {
			p.i++
		}
		h := p.s[start:p.i]
		if h == "" || len(h)%2 != 0 {
			return "", fmt.Errorf("bad #hex value")
		}
		b, _ := hex.DecodeString(h)
		return normalizeBER(b), nil
	}
	var buf []byte
	keep := 0 // length of buf up to the last character that must be kept (non-space or escaped)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case ',', ';', '+':
			return normalizeValue(string(buf[:keep])), nil
		case '"':
			return "", fmt.Errorf("unexpected '\"' inside unquoted value")
		case '\\':
			b, err := p.parseEscape()
			if err != nil {
				return "", err
			}
			buf = append(buf, b)
			keep = len(buf)
			continue
		}
		buf = append(buf, c)
		if c != ' ' && c != '\t' {
			keep = len(buf)
		}
		p.i++
	}
	return normalizeValue(string(buf[:keep])), nil
}

// parseEscape handles \X and \HH at p.i (which points at the backslash).
func (p *dnParser) parseEscape() (byte, error) {
	if p.i+1 >= len(p.s) {
		return 0, fmt.Errorf("dangling backslash")
	}
	if p.i+2 < len(p.s) && isHex(p.s[p.i+1]) && isHex(p.s[p.i+2]) {
		b, _ := hex.DecodeString(p.s[p.i+1 : p.i+3])
		p.i += 3
		return b[0], nil
	}
	b := p.s[p.i+1]
	p.i += 2
	return b, nil
}

// parseQuoted reads a double-quoted value; "" and \" both stand for a quote.
func (p *dnParser) parseQuoted() (string, error) {
	p.i++ // opening quote
	var buf []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"' && p.i+1 < len(p.s) && p.s[p.i+1] == '"':
			buf = append(buf, '"')
			p.i += 2
		case c == '"':
			p.i++
			p.skipSpace()
			if p.i < len(p.s) && !strings.ContainsRune(",;+", rune(p.s[p.i])) {
				return "", fmt.Errorf("text after closing quote")
			}
			return normalizeValue(string(buf)), nil
		case c == '\\':
			b, err := p.parseEscape()
			if err != nil {
				return "", err
			}
			buf = append(buf, b)
		default:
			buf = append(buf, c)
			p.i++
		}
	}
	return "", fmt.Errorf("unterminated quoted value")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// normalizeValue case-folds and collapses white space runs to one space.
func normalizeValue(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// normalizeBER turns an RFC 4514 #hex value (BER of the attribute value) into
// the string it encodes when it is a string type, so that `2.5.4.3=#0c036162`
// equals `CN=abc`; otherwise it keeps "#hex".
func normalizeBER(b []byte) string {
	var v any
	if rest, err := asn1.Unmarshal(b, &v); err == nil && len(rest) == 0 {
		if s, ok := v.(string); ok {
			return normalizeValue(s)
		}
	}
	return "#" + hex.EncodeToString(b)
}

func sortRDN(rdn []AttributeValue) []AttributeValue {
	sort.Slice(rdn, func(i, j int) bool {
		if rdn[i].Type != rdn[j].Type {
			return rdn[i].Type < rdn[j].Type
		}
		return rdn[i].Value < rdn[j].Value
	})
	return rdn
}

// DNFromRDNSequence converts a certificate's RDNSequence (least specific first).
func DNFromRDNSequence(seq pkix.RDNSequence) DN {
	dn := make(DN, 0, len(seq))
	for _, set := range seq {
		rdn := make([]AttributeValue, 0, len(set))
		for _, atv := range set {
			rdn = append(rdn, AttributeValue{Type: atv.Type.String(), Value: attrValue(atv.Value)})
		}
		dn = append(dn, sortRDN(rdn))
	}
	return dn
}

func attrValue(v any) string {
	if s, ok := v.(string); ok {
		return normalizeValue(s)
	}
	b, err := asn1.Marshal(v)
	if err != nil {
		return normalizeValue(fmt.Sprint(v))
	}
	return normalizeBER(b)
}

// SubjectDN returns the certificate's subject as a DN, from the raw DER when
// available (so attribute order and types are exactly the certificate's).
func SubjectDN(c *x509.Certificate) DN {
	return rawDN(c.RawSubject, c.Subject)
}

// IssuerDN returns the certificate's issuer as a DN.
func IssuerDN(c *x509.Certificate) DN {
	return rawDN(c.RawIssuer, c.Issuer)
}

func rawDN(raw []byte, fallback pkix.Name) DN {
	if len(raw) > 0 {
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(raw, &seq); err == nil && len(rest) == 0 {
			return DNFromRDNSequence(seq)
		}
	}
	return DNFromRDNSequence(fallback.ToRDNSequence())
}

// Equal reports whether two DNs name the same entity: the same RDN sequence
// in the same or reversed order, or (last resort) the same multiset of
// attribute/value pairs.
func (d DN) Equal(o DN) bool {
	if len(d) == 0 || len(o) == 0 {
		return len(d) == len(o)
	}
	if len(d) == len(o) {
		fwd, rev := true, true
		for i := range d {
			if fwd && !rdnEqual(d[i], o[i]) {
				fwd = false
			}
			if rev && !rdnEqual(d[i], o[len(o)-1-i]) {
				rev = false
			}
			if !fwd && !rev {
				break
			}
		}
		if fwd || rev {
			return true
		}
	}
	return flatKey(d) == flatKey(o)
}

func rdnEqual(a, b []AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func flatKey(d DN) string {
	var parts []string
	for _, rdn := range d {
		for _, av := range rdn {
			parts = append(parts, av.Type+"="+av.Value)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x00")
}

// CommonNames returns the (normalised) CN values of d.
func (d DN) CommonNames() []string {
	var out []string
	for _, rdn := range d {
		for _, av := range rdn {
			if av.Type == "2.5.4.3" {
				out = append(out, av.Value)
			}
		}
	}
	return out
}

// EqualDNStrings parses both strings and compares them with DN.Equal.
func EqualDNStrings(a, b string) (bool, error) {
	da, err := ParseDN(a)
	if err != nil {
		return false, err
	}
	db, err := ParseDN(b)
	if err != nil {
		return false, err
	}
	return da.Equal(db), nil
}

// WindowsDN formats a certificate name the way Windows' X509Certificate2.Subject
// does (most specific first, ", " separators, quotes around values with
// specials). Use it to build TlsCertificateName values and remediation text.
func WindowsDN(seq pkix.RDNSequence) string {
	names := map[string]string{
		"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C",
		"2.5.4.7": "L", "2.5.4.8": "S", "2.5.4.9": "STREET", "2.5.4.10": "O",
		"2.5.4.11": "OU", "2.5.4.12": "T", "2.5.4.17": "PostalCode", "2.5.4.42": "G",
		"2.5.4.43": "I", "1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.25": "DC",
	}
	var parts []string
	for i := len(seq) - 1; i >= 0; i-- {
		var avs []string
		for _, atv := range seq[i] {
			key, ok := names[atv.Type.String()]
			if !ok {
				key = "OID." + atv.Type.String()
			}
			val := fmt.Sprint(atv.Value)
			if strings.ContainsAny(val, ",+=\"\n<>#;") || strings.TrimSpace(val) != val || val == "" {
				val = `"` + strings.ReplaceAll(val, `"`, `""`) + `"`
			}
			avs = append(avs, key+"="+val)
		}
		parts = append(parts, strings.Join(avs, " + "))
	}
	return strings.Join(parts, ", ")
}
