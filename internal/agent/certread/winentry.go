package certread

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// This file turns what the Windows syscall layer observed about one store
// entry into a Certificate. It is platform-independent so that every
// decision is unit-tested on Linux; windows_syscall.go only fills in a
// windowsEntry.

// windowsEntry is the raw observation for one CERT_CONTEXT.
type windowsEntry struct {
	der          []byte
	friendlyName string

	// hasKeyProvInfo: CERT_KEY_PROV_INFO_PROP_ID is set, i.e. the store
	// associates a private key (what PowerShell shows as HasPrivateKey).
	hasKeyProvInfo bool
	provider       string // CRYPT_KEY_PROV_INFO.pwszProvName
	container      string // CRYPT_KEY_PROV_INFO.pwszContainerName

	// acquireCode is the error of CryptAcquireCertificatePrivateKey
	// (SILENT | PREFER_NCRYPT); 0 means the key was acquired.
	acquireCode uint32
	acquireMsg  string
	// cng is true when the acquired handle is an NCrypt key, false for a
	// legacy CryptoAPI (CSP) key.
	cng bool

	// acl is the key's DACL when it could be read; aclErr explains why not.
	acl    *KeyACL
	aclErr string
}

// Windows status codes worth naming in KeyDetail.
var winCodeNames = map[uint32]string{
	0x80090016: "NTE_BAD_KEYSET",
	0x8009000D: "NTE_NO_KEY",
	0x80090010: "NTE_PERM",
	0x80090011: "NTE_NOT_FOUND",
	0x80090019: "NTE_KEYSET_NOT_DEF",
	0x8009000B: "NTE_BAD_KEY_STATE",
	0x80090022: "NTE_SILENT_CONTEXT",
	0x80090029: "NTE_NOT_SUPPORTED",
	0x8009200B: "CRYPT_E_NO_KEY_PROPERTY",
	0x80092004: "CRYPT_E_NOT_FOUND",
	0x00000005: "ERROR_ACCESS_DENIED",
	0x80070005: "E_ACCESSDENIED",
}

// winCodeHint adds what the code means for Exchange transport.
var winCodeHint = map[uint32]string{
	0x80090016: "the key container is missing (certificate imported without its key, or the key file was deleted)",
	0x8009200B: "the certificate has no key property",
	0x80090022: "the key needs user interaction (strong private key protection); a service cannot use it",
	0x80090010: "access to the key is denied",
	0x00000005: "access to the key is denied",
	0x80070005: "access to the key is denied",
}

// formatWinError renders "NTE_BAD_KEYSET (0x80090016): Keyset does not
// exist.; hint".
func formatWinError(code uint32, msg string) string {
	var b strings.Builder
	if n, ok := winCodeNames[code]; ok {
		fmt.Fprintf(&b, "%s (0x%08X)", n, code)
	} else {
		fmt.Fprintf(&b, "0x%08X", code)
	}
	if msg = strings.TrimSpace(msg); msg != "" {
		b.WriteString(": " + msg)
	}
	if h, ok := winCodeHint[code]; ok {
		b.WriteString(" - " + h)
	}
	return b.String()
}

// certificate builds the Certificate for one entry; a DER that does not
// parse becomes a Problem (the scan goes on).
func (e windowsEntry) certificate(location string) (certstore.Certificate, *certstore.Problem) {
	thumb := thumbprint.OfDER(e.der)
	cert, err := x509.ParseCertificate(e.der)
	if err != nil {
		p := problemf(location+` `+thumb, certstore.ErrMalformed, "store entry does not parse as X.509: %v", err)
		return certstore.Certificate{}, &p
	}
	c := certstore.Certificate{
		Thumbprint:    thumb,
		Cert:          cert,
		HasPrivateKey: e.hasKeyProvInfo,
		Source:        location,
		Sources:       []string{location},
		FriendlyName:  e.friendlyName,
	}
	if !e.hasKeyProvInfo {
		c.Key = certstore.KeyAbsent
		return c, nil
	}
	if e.provider != "" || e.container != "" {
		c.KeySource = e.provider + `\` + e.container
	}
	if e.acquireCode != 0 {
		c.Key = certstore.KeyUnusable
		c.KeyDetail = "CryptAcquireCertificatePrivateKey failed: " + formatWinError(e.acquireCode, e.acquireMsg)
		return c, nil
	}
	c.Key = certstore.KeyUsable
	switch {
	case e.acl != nil:
		d, reason := EvaluateKeyRead(*e.acl, NetworkServiceTokenSIDs())
		c.TransportCanReadKey = d.Bool()
		if d != ReadAllowed {
			c.KeyDetail = "NETWORK SERVICE read access " + d.String() + ": " + reason
		}
	case e.aclErr != "":
		kind := "CNG"
		if !e.cng {
			kind = "CryptoAPI"
		}
		c.KeyDetail = fmt.Sprintf("key ACL not readable (%s key): %s", kind, e.aclErr)
	}
	return c, nil
}
