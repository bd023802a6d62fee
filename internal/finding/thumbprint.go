package finding

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// Thumbprint is a certificate's SHA-1 thumbprint as Windows shows it:
// upper-case hex without separators.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
