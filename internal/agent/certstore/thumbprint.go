package certstore

import (
	"crypto/sha1" //nolint:gosec // SHA-1 is what Windows and Exchange call the thumbprint.
	"encoding/hex"
	"strings"
)

// Thumbprint returns the SHA-1 of der as upper-case hex without separators,
// exactly as Windows (Get-ChildItem Cert:\...) and Exchange print it.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// NormalizeThumbprint canonicalises a user- or log-supplied thumbprint:
// upper case, with spaces, colons and the invisible U+200E marks that the
// Windows certificate dialog inserts when copying removed. It does not
// validate the result.
func NormalizeThumbprint(s string) string {
	var b strings.Builder
	b.Grow(40)
	for _, r := range s {
		switch r {
		case ' ', ':', '\t', '-', '\u200e', '\u200f', '\ufeff':
			continue
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// validThumbprint reports whether s is 40 upper-case hex digits.
func validThumbprint(s string) bool {
	if len(s) != 40 {
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
