// Package tlsutil builds the TLS configurations mxprobe uses between its own
// processes. Trust between controller nodes is a dedicated cluster CA: a
// peer is accepted when its certificate chains to that CA, whatever host
// name it is reached by (pods move; the CA is the identity).
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ErrIncomplete: some but not all of cert, key and CA files were given.
var ErrIncomplete = errors.New("tlsutil: cert_file, key_file and ca_file must be set together")

// Mutual holds both sides of a mutual-TLS setup.
type Mutual struct {
	Server *tls.Config // requires and verifies client certificates
	Client *tls.Config // presents our certificate, verifies the peer's chain
	// ServerOptionalClient verifies a client certificate when one is given
	// (for ports shared with clients that authenticate otherwise).
	ServerOptionalClient *tls.Config
	Pool                 *x509.CertPool
	// CACerts are the certificates in Pool.
	CACerts []*x509.Certificate
}

// LoadMutual reads a certificate, its key and the CA bundle. All empty means
// no TLS (nil, nil).
func LoadMutual(certFile, keyFile, caFile string) (*Mutual, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, ErrIncomplete
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: load %s: %w", certFile, err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: read CA: %w", err)
	}
	var cas []*x509.Certificate
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: %s: %w", caFile, err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("tlsutil: %s holds no PEM certificate", caFile)
	}
	return NewMutual(cert, cas...), nil
}

// NewMutual builds the configurations from a loaded certificate and the CA
// certificates that sign every node's certificate.
func NewMutual(cert tls.Certificate, cas ...*x509.Certificate) *Mutual {
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	verify := func(cs tls.ConnectionState) error { return VerifyChain(cs.PeerCertificates, pool) }
	return &Mutual{
		Pool: pool, CACerts: cas,
		Server: &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		},
		ServerOptionalClient: &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		},
		Client: &tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			// Host names are not the identity here: the chain to the
			// dedicated cluster CA is, checked in VerifyConnection.
			InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
			VerifyConnection:   verify,
		},
	}
}

// VerifyChain checks that chain[0] chains to pool (any key usage).
func VerifyChain(chain []*x509.Certificate, pool *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("tlsutil: peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("tlsutil: peer certificate not from the cluster CA: %w", err)
	}
	return nil
}
