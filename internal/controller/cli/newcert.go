package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// maxNewCertBytes bounds each --new-cert file read (a PFX with its chain is
// a few KiB).
const maxNewCertBytes = 256 << 10

// newCert is what controller preflight read from the renewal's files on
// this machine (with internal/certstore, the agent's parsers): the
// certificates to send and what it found of the key, which stays here.
type newCert struct {
	leaf  *x509.Certificate
	chain []*x509.Certificate
	// key: the files hold the leaf's usable private key; keyWhere: the file.
	key      bool
	keyWhere string
}

// pem is the certificates to upload: the leaf, then the rest.
func (n newCert) pem() []byte {
	var b []byte
	for _, c := range append([]*x509.Certificate{n.leaf}, n.chain...) {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// readNewCert reads PFX (with the passwords given), PEM and DER files. A
// key that is there but cannot be used (another certificate's, encrypted,
// a PFX no password opens) is an error: the statement sent would be
// wrong. Passwords and key material never appear in an error.
func readNewCert(ctx context.Context, files, passwords []string) (newCert, error) {
	c, err := certstore.ReadFiles(ctx, files, certstore.Options{PFXPasswords: passwords, MaxFileBytes: maxNewCertBytes})
	if err != nil {
		return newCert{}, fmt.Errorf("--new-cert: %w", err)
	}
	var leaf *certstore.Certificate
	for i := range c.Certificates {
		x := &c.Certificates[i]
		if x.Cert.IsCA {
			continue
		}
		if leaf == nil || x.Key == certstore.KeyUsable && leaf.Key != certstore.KeyUsable {
			leaf = x
		}
	}
	var problems []string
	pfxPassword := false
	for _, p := range c.Problems {
		problems = append(problems, p.String())
		pfxPassword = pfxPassword || errors.Is(p.Err, certstore.ErrPFXPassword)
	}
	switch {
	case pfxPassword && (leaf == nil || leaf.Key != certstore.KeyUsable):
		return newCert{}, fmt.Errorf("--new-cert: PFX: no password given opens it (set %s or --pfx-password-file)", pfxPasswordEnv)
	case leaf == nil && len(problems) > 0:
		return newCert{}, fmt.Errorf("--new-cert: no end-entity certificate read: %s", strings.Join(problems, "; "))
	case leaf == nil:
		return newCert{}, errors.New("--new-cert: no end-entity certificate in the file(s)")
	case leaf.Key == certstore.KeyUnusable || leaf.Key == certstore.KeyUnknown:
		return newCert{}, fmt.Errorf("--new-cert: the private key for %s cannot be used: %s", leaf.Thumbprint, leaf.KeyDetail)
	}
	n := newCert{leaf: leaf.Cert, key: leaf.Key == certstore.KeyUsable}
	if n.key {
		n.keyWhere = filepath.Base(leaf.KeySource)
		if n.keyWhere == "." || n.keyWhere == "" {
			n.keyWhere = filepath.Base(leaf.Source)
		}
	}
	for _, x := range c.Certificates {
		if x.Thumbprint != leaf.Thumbprint {
			n.chain = append(n.chain, x.Cert)
		}
	}
	return n, nil
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
