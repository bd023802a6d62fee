package lab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// ErrNotCA is returned by AsCA for a certificate that was not issued as a CA.
var ErrNotCA = errors.New("lab: certificate is not a CA")

// KeyType selects the key algorithm of an issued certificate.
type KeyType int

const (
	// KeyECDSAP256 is the default: ECDSA on P-256.
	KeyECDSAP256 KeyType = iota
	// KeyRSA uses RSA with IssueOptions.RSABits bits (default 2048). Use 1024
	// for a weak-key certificate; Go refuses to generate keys below 1024 bits.
	KeyRSA
)

// DefaultRSABits is the RSA modulus size used when IssueOptions.RSABits is 0.
const DefaultRSABits = 2048

// IssueOptions describes a certificate to mint. The zero value (plus a
// CommonName) gives an ECDSA P-256 server certificate valid from five minutes
// ago for one year.
type IssueOptions struct {
	CommonName   string
	Organization []string
	// DNSNames are the SAN DNS names. When nil and the certificate is not a
	// CA, CommonName is used as the only DNS name (Go ignores the CN when
	// verifying names, Exchange does not). Set to an empty non-nil slice to
	// mint a certificate with no SAN at all.
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore defaults to five minutes ago (or NotAfter minus a year when
	// NotAfter is already in the past); NotAfter defaults to NotBefore plus
	// one year. A CA with neither set gets NewCA's validity.
	NotBefore time.Time
	NotAfter  time.Time
	KeyType   KeyType
	RSABits   int
	// SelfSigned signs the certificate with its own key instead of the CA's;
	// issuer equals subject.
	SelfSigned bool
	// IsCA makes a CA certificate (basic constraints CA:TRUE, keyCertSign);
	// turn it into an issuer with (*Issued).AsCA.
	IsCA bool
	// ServerAuth and ClientAuth set the extended key usages. When neither is
	// set on a non-CA certificate, ServerAuth is used.
	ServerAuth bool
	ClientAuth bool
	// SignatureAlgorithm overrides the signer's default. Go 1.26 still
	// creates x509.SHA1WithRSA signatures (with an RSA issuer key), although
	// it refuses to verify them; ECDSA issuers need ECDSAWithSHA1.
	SignatureAlgorithm x509.SignatureAlgorithm
	// OCSPServer and IssuingCertificateURL fill the Authority Information
	// Access extension, CRLDistributionPoints the CDP extension (e.g. the
	// URLs of a RevocationResponder).
	OCSPServer            []string
	IssuingCertificateURL []string
	CRLDistributionPoints []string
}

// CA is a certificate authority that can issue certificates. Intermediates
// are CAs obtained from (*Issued).AsCA.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// chain holds this CA's issuers, nearest first (empty for a root).
	chain []*x509.Certificate
}

// Issued is a minted certificate with its private key and issuing chain.
type Issued struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the issuing chain, nearest issuer first, ending with the root.
	// Empty for self-signed certificates.
	Chain []*x509.Certificate
}

// NewCA creates a self-signed ECDSA P-256 root CA, valid from five years ago
// (so backdated and expired lab certificates still chain) for fifteen years.
func NewCA(commonName string) (*CA, error) {
	key, err := newKey(KeyECDSAP256, 0)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"mxprobe lab"}},
		NotBefore:             now.AddDate(-5, 0, 0),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := sign(tpl, nil, key, key)
	if err != nil {
		return nil, fmt.Errorf("lab: create CA %q: %w", commonName, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue mints a certificate signed by ca (or by itself when opts.SelfSigned).
func (ca *CA) Issue(opts IssueOptions) (*Issued, error) {
	key, err := newKey(opts.KeyType, opts.RSABits)
	if err != nil {
		return nil, err
	}
	tpl := template(opts)
	var parent *x509.Certificate
	signer := key
	var chain []*x509.Certificate
	if !opts.SelfSigned {
		if ca == nil {
			return nil, errors.New("lab: issue: nil CA for a CA-issued certificate")
		}
		parent, signer = ca.Cert, ca.Key
		chain = append([]*x509.Certificate{ca.Cert}, ca.chain...)
	}
	cert, err := sign(tpl, parent, key, signer)
	if err != nil {
		return nil, fmt.Errorf("lab: issue %q: %w", opts.CommonName, err)
	}
	return &Issued{Cert: cert, Key: key, Chain: chain}, nil
}

// Pool returns a pool holding only this CA's certificate, i.e. a trust
// store that trusts this CA as a root.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertPEM returns the CA certificate in PEM form.
func (ca *CA) CertPEM() []byte { return certPEM(ca.Cert) }

// AsCA turns an Issued CA certificate into an issuer (an intermediate CA).
func (is *Issued) AsCA() (*CA, error) {
	if !is.Cert.IsCA {
		return nil, fmt.Errorf("%w: %s", ErrNotCA, is.Cert.Subject)
	}
	return &CA{Cert: is.Cert, Key: is.Key, chain: is.Chain}, nil
}

// CertPEM returns the certificate in PEM form.
func (is *Issued) CertPEM() []byte { return certPEM(is.Cert) }

// ChainPEM returns the certificate followed by its issuing chain.
func (is *Issued) ChainPEM() []byte {
	out := certPEM(is.Cert)
	for _, c := range is.Chain {
		out = append(out, certPEM(c)...)
	}
	return out
}

// KeyPEM returns the private key as a PKCS#8 "PRIVATE KEY" PEM block.
func (is *Issued) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(is.Key)
	if err != nil {
		return nil, fmt.Errorf("lab: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// TLSCertificate returns the certificate with its key and full issuing chain
// (leaf, intermediates, root), ready for tls.Config.Certificates.
func (is *Issued) TLSCertificate() tls.Certificate {
	tc := is.LeafOnlyTLSCertificate()
	for _, c := range is.Chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc
}

// LeafOnlyTLSCertificate returns a tls.Certificate that presents only the
// leaf: the "missing intermediate" misconfiguration.
func (is *Issued) LeafOnlyTLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{is.Cert.Raw}, PrivateKey: is.Key, Leaf: is.Cert}
}

// Thumbprint returns the certificate's thumbprint.
func (is *Issued) Thumbprint() string { return thumbprint.Of(is.Cert) }

func template(opts IssueOptions) *x509.Certificate {
	now := time.Now()
	nb, na := opts.NotBefore, opts.NotAfter
	if opts.IsCA && nb.IsZero() && na.IsZero() {
		// Like NewCA: backdated so older lab certificates still chain.
		nb, na = now.AddDate(-5, 0, 0), now.AddDate(10, 0, 0)
	}
	if nb.IsZero() {
		nb = now.Add(-5 * time.Minute)
		if !na.IsZero() && na.Before(now) {
			nb = na.AddDate(-1, 0, 0)
		}
	}
	if na.IsZero() {
		na = nb.AddDate(1, 0, 0)
	}
	tpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: opts.Organization},
		NotBefore:             nb,
		NotAfter:              na,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPAddresses,
		BasicConstraintsValid: true,
		IsCA:                  opts.IsCA,
		SignatureAlgorithm:    opts.SignatureAlgorithm,
		OCSPServer:            opts.OCSPServer,
		IssuingCertificateURL: opts.IssuingCertificateURL,
		CRLDistributionPoints: opts.CRLDistributionPoints,
	}
	if tpl.DNSNames == nil && !opts.IsCA && opts.CommonName != "" && net.ParseIP(opts.CommonName) == nil {
		tpl.DNSNames = []string{opts.CommonName}
	}
	switch {
	case opts.IsCA:
		tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	case opts.KeyType == KeyRSA:
		tpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	default:
		tpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if opts.ServerAuth {
		tpl.ExtKeyUsage = append(tpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if opts.ClientAuth {
		tpl.ExtKeyUsage = append(tpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if len(tpl.ExtKeyUsage) == 0 && !opts.IsCA {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return tpl
}

// sign fills in a random serial and creates the certificate; parent nil
// means self-signed.
func sign(tpl, parent *x509.Certificate, key, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	if parent == nil {
		parent = tpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newKey(kt KeyType, bits int) (crypto.Signer, error) {
	switch kt {
	case KeyECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("lab: generate ECDSA key: %w", err)
		}
		return k, nil
	case KeyRSA:
		if bits == 0 {
			bits = DefaultRSABits
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("lab: generate RSA-%d key: %w", bits, err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("lab: unknown key type %d", kt)
	}
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
