// Package enroll gives an agent its identity: it creates a private key on
// the agent host (it never leaves it), exchanges a CSR and a join token for
// a short-lived client certificate, keeps the certificate in the state
// directory, serves it to TLS handshakes, and renews it over mTLS at two
// thirds of its lifetime.
package enroll

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrNotEnrolled: the state directory holds no certificate yet.
var ErrNotEnrolled = errors.New("enroll: agent not enrolled (run: agent enroll --controller ADDR --token TOKEN)")

const (
	keyFile  = "agent.key"
	certFile = "agent.crt"
)

// Creds is the agent's key and current certificate chain.
type Creds struct {
	dir string
	key crypto.Signer
	mu  sync.RWMutex
	crt tls.Certificate
}

// ServerTLS is how the agent verifies controllers: the CA that signed their
// certificates (the cluster CA), host names checked.
func ServerTLS(caFile, serverName string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("enroll: controller CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("enroll: %s holds no PEM certificate", caFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName}, nil
}

// loadOrCreateKey returns the agent key, creating it (0600) if absent.
func loadOrCreateKey(dir string) (crypto.Signer, error) {
	p := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(p)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("enroll: %s is not PEM", p)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("enroll: %s: %w", p, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("enroll: %s cannot sign", p)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func csr(key crypto.Signer, agentID string) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: agentID}}, key)
}

// Enroll obtains a certificate with a join token from the controller at
// addr (any node: followers forward) and stores it in dir.
func Enroll(ctx context.Context, addr string, serverTLS *tls.Config, token, agentID, hostname, dir string) (*Creds, error) {
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	req, err := csr(key, agentID)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(withServerName(serverTLS, addr))), grpc.WithDisableServiceConfig())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := mxv1.NewAgentServiceClient(conn).Enroll(ctx, &mxv1.EnrollRequest{Token: token, CsrDer: req, AgentId: agentID, Hostname: hostname})
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	c := &Creds{dir: dir, key: key}
	if err := c.store(resp.GetCertificateChainDer()); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads the key and certificate from dir.
func Load(dir string) (*Creds, error) {
	b, err := os.ReadFile(filepath.Join(dir, certFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	var chain [][]byte
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		chain = append(chain, blk.Bytes)
	}
	c := &Creds{dir: dir, key: key}
	if err := c.set(chain); err != nil {
		return nil, err
	}
	// A certificate for another key (a file copied from another host, or
	// one half of the pair restored from a backup) would only fail later,
	// in every TLS handshake: say so now.
	if pub, ok := c.Leaf().PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: %s is not the certificate of %s; enroll again", ErrKeyMismatch, filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	}
	return c, nil
}

// ErrKeyMismatch: the stored certificate is not for the stored key.
var ErrKeyMismatch = errors.New("enroll: certificate and key do not match")

func (c *Creds) set(chain [][]byte) error {
	if len(chain) == 0 {
		return errors.New("enroll: empty certificate chain")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("enroll: certificate: %w", err)
	}
	c.mu.Lock()
	// Only the leaf goes on the wire: every controller trusts the agent CA
	// directly (agent_ca.cert_file), and each certificate sent is parsed and
	// kept for the life of the connection on the controller (~2.5 KiB per
	// agent stream for the CA certificate alone).
	c.crt = tls.Certificate{Certificate: chain[:1], PrivateKey: c.key, Leaf: leaf}
	c.mu.Unlock()
	return nil
}

func (c *Creds) store(chain [][]byte) error {
	if err := c.set(chain); err != nil {
		return err
	}
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return writeAtomic(filepath.Join(c.dir, certFile), out, 0o644)
}

// Leaf is the current certificate.
func (c *Creds) Leaf() *x509.Certificate {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.crt.Leaf
}

// ClientTLS is the agent's mTLS configuration for a controller address.
func (c *Creds) ClientTLS(serverTLS *tls.Config, addr string) *tls.Config {
	cfg := withServerName(serverTLS, addr)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		crt := c.crt
		return &crt, nil
	}
	return cfg
}

// TLS is the mTLS configuration for any controller address: the server name
// is left to gRPC (the dialled host), the client certificate is the current one.
func (c *Creds) TLS(serverTLS *tls.Config) *tls.Config {
	cfg := serverTLS.Clone()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		crt := c.crt
		return &crt, nil
	}
	return cfg
}

// RenewLoop renews the certificate at two thirds of its lifetime (retrying
// every minute on failure) until ctx ends.
func (c *Creds) RenewLoop(ctx context.Context, dial func() (*grpc.ClientConn, error), log *slog.Logger) {
	for {
		leaf := c.Leaf()
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		wait := time.Until(leaf.NotBefore.Add(life * 2 / 3))
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 0)):
		}
		if err := c.Renew(ctx, dial); err != nil {
			log.Warn("certificate renewal failed; retrying in a minute", "err", err, "expires", leaf.NotAfter)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
			continue
		}
		log.Info("agent certificate renewed", "expires", c.Leaf().NotAfter)
	}
}

// Renew replaces the certificate through an mTLS connection.
func (c *Creds) Renew(ctx context.Context, dial func() (*grpc.ClientConn, error)) error {
	req, err := csr(c.key, c.Leaf().Subject.CommonName)
	if err != nil {
		return err
	}
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := mxv1.NewAgentServiceClient(conn).Renew(ctx, &mxv1.RenewRequest{CsrDer: req})
	if err != nil {
		return fmt.Errorf("enroll: renew: %w", err)
	}
	return c.store(resp.GetCertificateChainDer())
}

func withServerName(base *tls.Config, addr string) *tls.Config {
	cfg := base.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	return nil
}

// ReadCertificate reads the enrolled certificate in dir without touching
// anything else (no key is created), for read-only status commands.
func ReadCertificate(dir string) (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(dir, certFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("enroll: %s holds no PEM certificate", filepath.Join(dir, certFile))
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("enroll: certificate: %w", err)
	}
	return c, nil
}
