package checks

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"software.sslmate.com/src/go-pkcs12"
)

// maxKeyFileBytes bounds a key file read for a probe's client certificate.
const maxKeyFileBytes = 16 << 20

// errNoKey: the data holds no private key this loader understands.
var errNoKey = errors.New("no usable private key")

// parsePrivateKeys extracts the private keys of a PEM (PKCS#8, PKCS#1,
// SEC 1), DER or PKCS#12 blob; PKCS#12 is tried with each password and the
// empty one. Encrypted PEM keys are skipped. It never panics on bad input.
func parsePrivateKeys(data []byte, passwords []string) ([]crypto.Signer, error) {
	var out []crypto.Signer
	add := func(k any) {
		if s, ok := k.(crypto.Signer); ok {
			out = append(out, s)
		}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for len(rest) > 0 {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if k, err := parseDERKey(b.Bytes); err == nil {
				add(k)
			}
		}
		if len(out) == 0 {
			return nil, errNoKey
		}
		return out, nil
	}
	if k, err := parseDERKey(data); err == nil {
		add(k)
		return out, nil
	}
	for _, pw := range append(append([]string(nil), passwords...), "") {
		k, _, _, err := pkcs12.DecodeChain(data, pw)
		if err == nil {
			add(k)
			break
		}
	}
	if len(out) == 0 {
		return nil, errNoKey
	}
	return out, nil
}

func parseDERKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errNoKey
}

// loadKeyFor reads path and returns the private key matching cert's public key.
func loadKeyFor(path string, cert *x509.Certificate, passwords []string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClientCert, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrClientCert, path, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrClientCert, path, maxKeyFileBytes)
	}
	keys, err := parsePrivateKeys(data, passwords)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrClientCert, path, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, k := range keys {
		if pub, ok := k.Public().(equaler); ok && pub.Equal(cert.PublicKey) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: no key in %s matches the certificate", ErrClientCert, path)
}
