package renewal

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrPrivateKey: the upload holds a private key (a PFX, a PEM key block, a
// DER key). The pre-flight takes the public certificate only.
var ErrPrivateKey = errors.New("the upload holds a private key, which the controller does not accept: send the public certificate only (PEM or .cer) and say where the key will be (key_source pfx, request or none); controller preflight --new-cert FILE.pfx reads a PFX on your machine and sends its certificates only")

// ErrNotCertificate: neither PEM certificates nor DER certificates.
var ErrNotCertificate = errors.New("not a certificate: send the public certificate as PEM (CERTIFICATE blocks) or DER (.cer)")

// PublicOnly accepts PEM whose blocks are all CERTIFICATE, or DER holding
// one or more certificates; it refuses anything with a private key before
// it is parsed further. Errors never quote the upload.
func PublicOnly(b []byte) error {
	if bytes.Contains(b, []byte("-----BEGIN ")) {
		rest, n := b, 0
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			switch {
			case strings.Contains(blk.Type, "PRIVATE KEY"):
				return ErrPrivateKey
			case blk.Type != "CERTIFICATE":
				return fmt.Errorf("%w (a PEM block of type %.40q)", ErrNotCertificate, blk.Type)
			}
			n++
		}
		if bytes.Contains(rest, []byte("-----BEGIN ")) {
			// A block pem.Decode could not read: it may be a key.
			return fmt.Errorf("%w (a PEM block that does not decode)", ErrNotCertificate)
		}
		if n == 0 {
			return ErrNotCertificate
		}
		return nil
	}
	if cs, err := x509.ParseCertificates(b); err == nil && len(cs) > 0 {
		return nil
	}
	if isPFX(b) {
		return ErrPrivateKey
	}
	if _, err := x509.ParsePKCS8PrivateKey(b); err == nil {
		return ErrPrivateKey
	}
	if _, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return ErrPrivateKey
	}
	if _, err := x509.ParseECPrivateKey(b); err == nil {
		return ErrPrivateKey
	}
	return ErrNotCertificate
}

// asPEM is a PublicOnly upload as PEM (DER certificates encoded), so the
// parser reads it the same way whatever the file was called.
func asPEM(b []byte) []byte {
	if bytes.Contains(b, []byte("-----BEGIN ")) {
		return b
	}
	cs, err := x509.ParseCertificates(b)
	if err != nil {
		return b
	}
	var out []byte
	for _, c := range cs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// isPFX: the outer PFX structure of RFC 7292 (version 3, then the
// authenticated safe).
func isPFX(b []byte) bool {
	var p struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  asn1.RawValue `asn1:"optional"`
	}
	_, err := asn1.Unmarshal(b, &p)
	return err == nil && p.Version == 3
}
