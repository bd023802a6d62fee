// Package thumbprint owns the one rule for certificate thumbprints: the
// SHA-1 of the DER encoding in upper-case hex without separators, exactly as
// Windows (Get-ChildItem Cert:\...), Exchange (Get-ExchangeCertificate,
// protocol logs, InternalTransportCertificateThumbprint) and the controller
// print it. Every package that computes, compares or accepts a thumbprint
// uses this one; nothing else hashes certificates or strips separators.
package thumbprint

import (
	"crypto/sha1" //nolint:gosec // SHA-1 is what Windows and Exchange call the thumbprint.
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Len is the length of a thumbprint: 20 bytes in hex.
const Len = 2 * sha1.Size

// ErrInvalid: a string is not a SHA-1 thumbprint (40 hex digits after
// Normalize).
var ErrInvalid = errors.New("thumbprint: not a SHA-1 thumbprint (40 hex digits)")

// OfDER returns the thumbprint of a DER-encoded certificate.
func OfDER(der []byte) string {
	sum := sha1.Sum(der) //nolint:gosec // see the import
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Of returns the thumbprint of a parsed certificate.
func Of(c *x509.Certificate) string { return OfDER(c.Raw) }

// Normalize canonicalises a thumbprint typed by a user, copied from a
// dialog or read from a log or an export: upper case, without the spaces,
// tabs, colons and dashes people separate bytes with, and without the
// invisible marks (U+200E/U+200F, a BOM) the Windows certificate dialog and
// some exporters insert. It does not validate; see Parse.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(Len)
	for _, r := range s {
		switch r {
		case ' ', ':', '\t', '\r', '\n', '-', '\u200e', '\u200f', '\ufeff', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// Valid reports whether s is already canonical: 40 upper-case hex digits.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Parse normalizes s and checks that the result is a thumbprint; the error
// wraps ErrInvalid.
func Parse(s string) (string, error) {
	n := Normalize(s)
	if !Valid(n) {
		return "", fmt.Errorf("%w: %q", ErrInvalid, clip(s))
	}
	return n, nil
}

// Bytes decodes a thumbprint (any spelling Parse accepts) to its 20 bytes,
// for lookups by hash (CERT_FIND_SHA1_HASH).
func Bytes(s string) ([]byte, error) {
	n, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(n)
}

// Equal compares two thumbprints in any spelling Normalize accepts.
func Equal(a, b string) bool {
	na := Normalize(a)
	return na != "" && na == Normalize(b)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
