package cli

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// maxNewCertBytes bounds each --new-cert file read (a PFX with its chain is
// a few KiB).
const maxNewCertBytes = 256 << 10

// newCert is what controller preflight read from the renewal's files on
// this machine: the certificates to send and what it found of the key,
// which stays here.
type newCert struct {
	leaf  *x509.Certificate
	chain []*x509.Certificate
	// key: a private key was found; keyMatches: it belongs to leaf;
	// keyWhere: the file it was in.
	key, keyMatches bool
	keyWhere        string
}

// pem is the certificates to upload: the leaf, then the rest.
func (n newCert) pem() []byte {
	var b []byte
	for _, c := range append([]*x509.Certificate{n.leaf}, n.chain...) {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// readNewCert reads PFX (with the passwords given, "" tried last), PEM
// (certificates and an unencrypted key) and DER (certificates or a key)
// files. Passwords and key material never appear in an error.
func readNewCert(files, passwords []string) (newCert, error) {
	var certs []*x509.Certificate
	var keys []crypto.PrivateKey
	var n newCert
	for _, f := range files {
		b, err := readBounded(f, maxNewCertBytes)
		if err != nil {
			return newCert{}, fmt.Errorf("--new-cert %s: %w", f, err)
		}
		cs, ks, found, err := parseNewCertFile(f, b, passwords)
		if err != nil {
			return newCert{}, fmt.Errorf("--new-cert %s: %w", f, err)
		}
		if found && n.keyWhere == "" {
			n.keyWhere = filepath.Base(f)
		}
		n.key = n.key || found
		certs, keys = append(certs, cs...), append(keys, ks...)
	}
	for _, c := range certs {
		if c.IsCA {
			continue
		}
		matches := keyMatches(c, keys)
		if n.leaf == nil || matches && !n.keyMatches {
			n.leaf, n.keyMatches = c, matches
		}
	}
	if n.leaf == nil {
		return newCert{}, errors.New("--new-cert: no end-entity certificate in the file(s)")
	}
	for _, c := range certs {
		if c != n.leaf && !bytes.Equal(c.Raw, n.leaf.Raw) {
			n.chain = append(n.chain, c)
		}
	}
	return n, nil
}

func parseNewCertFile(name string, b []byte, passwords []string) (certs []*x509.Certificate, keys []crypto.PrivateKey, keyFound bool, err error) {
	if bytes.Contains(b, []byte("-----BEGIN ")) {
		rest := b
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			switch {
			case blk.Type == "CERTIFICATE":
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, nil, false, fmt.Errorf("a CERTIFICATE block: %w", err)
				}
				certs = append(certs, c)
			case strings.Contains(blk.Type, "PRIVATE KEY"):
				keyFound = true
				if k, err := parseKey(blk.Bytes); err == nil {
					keys = append(keys, k)
				}
			}
		}
		if len(certs) == 0 && !keyFound {
			return nil, nil, false, errors.New("no CERTIFICATE or PRIVATE KEY block")
		}
		return certs, keys, keyFound, nil
	}
	if cs, err := x509.ParseCertificates(b); err == nil && len(cs) > 0 {
		return cs, nil, false, nil
	}
	if k, err := parseKey(b); err == nil {
		return nil, []crypto.PrivateKey{k}, true, nil
	}
	var wrong bool
	for _, pw := range append(append([]string{}, passwords...), "") {
		key, leaf, chain, err := pkcs12.DecodeChain(b, pw)
		if err == nil {
			return append([]*x509.Certificate{leaf}, chain...), []crypto.PrivateKey{key}, true, nil
		}
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			wrong = true
			continue
		}
		if cs, err := pkcs12.DecodeTrustStore(b, pw); err == nil && len(cs) > 0 {
			return cs, nil, false, nil // a PFX without a key
		}
	}
	if wrong {
		return nil, nil, false, fmt.Errorf("PFX: no password given opens it (set %s or --pfx-password-file)", pfxPasswordEnv)
	}
	return nil, nil, false, errors.New("neither PEM, DER certificate or key, nor a PFX this command can read")
}

func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}

func keyMatches(c *x509.Certificate, keys []crypto.PrivateKey) bool {
	for _, k := range keys {
		if s, ok := k.(crypto.Signer); ok {
			if p, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && p.Equal(c.PublicKey) {
				return true
			}
		}
	}
	return false
}

// pfxPasswordEnv is where the PFX password comes from, as for agents.
const pfxPasswordEnv = "MXPROBE_PFX_PASSWORD"

// pfxPasswords: the environment variable, then the lines of the file.
func pfxPasswords(file string) ([]string, error) {
	var pw []string
	if v := os.Getenv(pfxPasswordEnv); v != "" {
		pw = append(pw, v)
	}
	if file == "" {
		return pw, nil
	}
	b, err := readBounded(file, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("--pfx-password-file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			pw = append(pw, l)
		}
	}
	return pw, nil
}
