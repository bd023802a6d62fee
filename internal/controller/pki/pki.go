// Package pki is the agent certificate authority the controller cluster holds:
// it signs agents' CSRs into short-lived client certificates whose identity
// (agent id and site, package identity) comes from the join token the
// controller checked, never from the CSR, and verifies a presented
// certificate and its identity.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/mxprobe/mxprobe/internal/identity"
)

// Sentinel errors callers branch on.
var (
	ErrBadCSR      = errors.New("pki: invalid certificate signing request")
	ErrWeakKey     = errors.New("pki: key type or size not accepted")
	ErrNotAgentCA  = errors.New("pki: certificate not issued by the agent CA")
	ErrBadIdentity = errors.New("pki: invalid agent id or site")
)

// CA signs agent certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	pool *x509.CertPool
}

// Load reads a CA certificate and key (PEM).
func Load(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, errors.New("pki: agent CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: agent CA certificate: %w", err)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(kblock.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(kblock.Bytes); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(kblock.Bytes); err != nil {
				return nil, errors.New("pki: agent CA key: not a PKCS#8, EC or PKCS#1 private key")
			}
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("pki: agent CA key cannot sign")
	}
	return New(cert, signer)
}

// New wraps a CA certificate and its key.
func New(cert *x509.Certificate, key crypto.Signer) (*CA, error) {
	if !cert.IsCA {
		return nil, errors.New("pki: agent CA certificate is not a CA")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, pool: pool}, nil
}

// Generate creates a self-signed CA (dev and demo mode only).
func Generate(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: identity.Serial(now), Subject: pkix.Name{CommonName: name, Organization: []string{"mxprobe"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return New(cert, key)
}

// Pool holds the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Sign issues a client certificate for the CSR's public key with the given
// identity, valid for ttl from now.
func (ca *CA) Sign(csrDER []byte, id identity.Identity, ttl time.Duration, now time.Time) ([][]byte, error) {
	if !identity.ValidID(id.AgentID) || !identity.ValidID(id.Site) {
		return nil, fmt.Errorf("%w: %q / %q", ErrBadIdentity, id.AgentID, id.Site)
	}
	if len(csrDER) == 0 || len(csrDER) > 16<<10 {
		return nil, fmt.Errorf("%w: empty or larger than 16 KiB", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	if err := acceptableKey(csr.PublicKey); err != nil {
		return nil, err
	}
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tpl := &x509.Certificate{
		SerialNumber: identity.Serial(now),
		Subject:      pkix.Name{CommonName: id.AgentID, OrganizationalUnit: []string{id.Site}, Organization: []string{"mxprobe agent"}},
		NotBefore:    now.Add(-5 * time.Minute), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{identity.URI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign: %w", err)
	}
	return [][]byte{der, ca.Cert.Raw}, nil
}

// Verify checks that chain[0] was issued by this CA for client auth (at now)
// and returns its identity.
func (ca *CA) Verify(chain []*x509.Certificate, now time.Time) (identity.Identity, error) {
	if len(chain) == 0 {
		return identity.Identity{}, fmt.Errorf("%w: no certificate", ErrNotAgentCA)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: ca.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %v", ErrNotAgentCA, err)
	}
	return identity.Of(chain[0])
}

func acceptableKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("%w: ECDSA under 256 bits", ErrWeakKey)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA under 2048 bits", ErrWeakKey)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("%w: %T", ErrWeakKey, pub)
	}
	return nil
}
