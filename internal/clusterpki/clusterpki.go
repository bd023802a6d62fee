// Package clusterpki mints the certificates of a secure controller cluster
// for benchmarks and end-to-end tests: the production path (mutual TLS
// between nodes and with every agent, an API token) without enrollment.
package clusterpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/identity"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// PKI is the PKI of a secure cluster: the cluster CA that signs node
// certificates, the agent CA that signs every agent's client certificate,
// and the bootstrap API token.
type PKI struct {
	clusterCA *lab.CA
	agentCA   *pki.CA
	// Token is the bootstrap API token (MXPROBE_AUTH_BOOTSTRAP_TOKEN).
	Token string
	files map[string]string // flag -> file, shared by every node
}

// New creates the CAs and writes the files every node shares to dir.
func New(dir string) (*PKI, error) {
	clusterCA, err := lab.NewCA("mxbench cluster CA")
	if err != nil {
		return nil, err
	}
	agentCA, err := pki.Generate("mxbench agent CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(agentCA.Key)
	if err != nil {
		return nil, err
	}
	s := &PKI{clusterCA: clusterCA, agentCA: agentCA, Token: "lab-bootstrap-" + rand.Text(), files: map[string]string{}}
	for flag, data := range map[string][]byte{
		"--tls-ca-file":        clusterCA.CertPEM(),
		"--agent-ca-cert-file": agentCA.CertPEM(),
		"--agent-ca-key-file":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	} {
		name := filepath.Join(dir, flag[2:]+".pem")
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return nil, err
		}
		s.files[flag] = name
	}
	return s, nil
}

// NodeArgs issues node i's certificate (loopback IP SAN) and returns the
// controller's TLS flags for it.
func (s *PKI) NodeArgs(dir string, i int) ([]string, error) {
	certFile, keyFile, err := s.NodeFiles(dir, fmt.Sprintf("c%d", i+1))
	if err != nil {
		return nil, err
	}
	args := []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile}
	for flag, file := range s.files {
		args = append(args, flag, file)
	}
	return args, nil
}

// NodeFiles issues a node certificate named name (server and client use)
// for dnsNames, localhost and 127.0.0.1, and writes it to dir as name.pem
// and name.key.
func (s *PKI) NodeFiles(dir, name string, dnsNames ...string) (certFile, keyFile string, err error) {
	cert, err := s.clusterCA.Issue(lab.IssueOptions{CommonName: name, DNSNames: append([]string{"localhost"}, dnsNames...),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ServerAuth: true, ClientAuth: true})
	if err != nil {
		return "", "", err
	}
	key, err := cert.KeyPEM()
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, cert.CertPEM(), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// Files are the files every node shares, by controller flag
// (--tls-ca-file, --agent-ca-cert-file, --agent-ca-key-file).
func (s *PKI) Files() map[string]string { return maps.Clone(s.files) }

// AgentTLS mints a client certificate for agent id in site, as enrollment
// would, and returns the agent's TLS configuration.
func (s *PKI) AgentTLS(id, site string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, err
	}
	chain, err := s.agentCA.Sign(csr, identity.Identity{AgentID: id, Site: site}, 12*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: s.clusterCA.Pool(), MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: chain[:1], PrivateKey: key}}}, nil // the leaf, as agents send it
}

// HTTPClient trusts the cluster CA.
func (s *PKI) HTTPClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.clusterCA.Pool(), MinVersion: tls.VersionTLS12}}}
}
