package checks

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// ConnectorClientCert chooses the client certificate a probe presents the
// way Exchange's send connector would choose it (exchange.SelectSend on the
// inventory and store), so a probe tests mutual TLS as the partner (e.g.
// Exchange Online) sees this server.
type ConnectorClientCert struct {
	Source       *ExchangeSource
	Connector    string // send connector name
	PFXPasswords []string
}

// storeKey is a private key held by a platform key store (Windows CNG).
type storeKey interface {
	crypto.Signer
	Close() error
}

// openStoreKey opens the key of the certificate with the given thumbprint
// in a Windows system store. A variable so tests on Linux can stand in for
// CNG; certread.OpenWindowsSigner returns ErrUnsupported off Windows.
var openStoreKey = func(loc certstore.WindowsLocation, thumbprint string) (storeKey, error) {
	s, err := certread.OpenWindowsSigner(loc, thumbprint)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Certificate returns the chosen certificate with its key and its
// thumbprint. The thumbprint is returned with the error when the selected
// certificate cannot be presented (no key: exactly what makes transport fail
// with NoCredentials).
//
// A key held by the Windows store (the certificate came from a windows:
// store) is checked here (acquired silently, a test signature verified with
// the certificate) and then released; the returned certificate's
// PrivateKey reopens it for each signature and closes it right after, so
// the caller has nothing to release. Acquire keeps it open instead.
func (c *ConnectorClientCert) Certificate(ctx context.Context) (*tls.Certificate, string, error) {
	chosen, tp, err := c.choose(ctx)
	if err != nil {
		return nil, tp, err
	}
	if loc, ok := windowsStoreOf(chosen); ok {
		k, err := c.openWindowsKey(loc, chosen)
		if err != nil {
			return nil, tp, err
		}
		// Only proved the key usable; a failure to free it does not make
		// the certificate unusable.
		_ = k.Close()
		key := &perSignatureKey{loc: loc, thumbprint: chosen.Thumbprint, pub: chosen.Cert.PublicKey}
		return &tls.Certificate{Certificate: [][]byte{chosen.Cert.Raw}, PrivateKey: key, Leaf: chosen.Cert}, tp, nil
	}
	key, err := c.fileKey(chosen)
	if err != nil {
		return nil, tp, err
	}
	return &tls.Certificate{Certificate: [][]byte{chosen.Cert.Raw}, PrivateKey: key, Leaf: chosen.Cert}, tp, nil
}

// Acquire is Certificate for a caller that releases the key after the
// probe: a Windows store key is opened once and held (an NCrypt handle)
// until release is called. release is never nil, is idempotent, and is a
// no-op for file keys. It must not be called while a handshake using the
// certificate is in progress (signing after release fails).
func (c *ConnectorClientCert) Acquire(ctx context.Context) (cert *tls.Certificate, thumbprint string, release func() error, err error) {
	noop := func() error { return nil }
	chosen, tp, err := c.choose(ctx)
	if err != nil {
		return nil, tp, noop, err
	}
	if loc, ok := windowsStoreOf(chosen); ok {
		k, err := c.openWindowsKey(loc, chosen)
		if err != nil {
			return nil, tp, noop, err
		}
		return &tls.Certificate{Certificate: [][]byte{chosen.Cert.Raw}, PrivateKey: k, Leaf: chosen.Cert}, tp, k.Close, nil
	}
	key, err := c.fileKey(chosen)
	if err != nil {
		return nil, tp, noop, err
	}
	return &tls.Certificate{Certificate: [][]byte{chosen.Cert.Raw}, PrivateKey: key, Leaf: chosen.Cert}, tp, noop, nil
}

// choose runs the send connector's selection and returns the chosen store
// entry, refusing one without a usable key.
func (c *ConnectorClientCert) choose(ctx context.Context) (*certstore.Certificate, string, error) {
	inv, certs, err := c.Source.Load(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrClientCert, err)
	}
	var conn *exchange.SendConnector
	for i := range inv.SendConnectors {
		if strings.EqualFold(inv.SendConnectors[i].Name, c.Connector) {
			conn = &inv.SendConnectors[i]
		}
	}
	if conn == nil {
		return nil, "", fmt.Errorf("%w: no send connector %q in %s", ErrClientCert, c.Connector, c.Source.Config)
	}
	sel := exchange.SelectSend(*conn, inv.Server.Fqdn, certs, exchange.SelectOptions{})
	if sel.Selected == "" {
		return nil, "", fmt.Errorf("%w: send connector %q selects no certificate: %s", ErrClientCert, c.Connector, certdiag.ExplainSelection(sel))
	}
	var chosen *certstore.Certificate
	for i := range certs {
		if certs[i].Thumbprint == sel.Selected {
			chosen = &certs[i]
			break
		}
	}
	if chosen == nil {
		return nil, sel.Selected, fmt.Errorf("%w: selected certificate %s not in the store", ErrClientCert, sel.Selected)
	}
	if k := exchange.KeyStateOf(*chosen); k == exchange.KeyMissing || k == exchange.KeyUnusable {
		return nil, sel.Selected, fmt.Errorf("%w: send connector %q selects certificate %s, which has no usable private key (transport fails with NoCredentials)", ErrClientCert, c.Connector, sel.Selected)
	}
	return chosen, sel.Selected, nil
}

// windowsStoreOf reports the Windows system store a certificate was read
// from (its Source is `windows:LocalMachine\My` or similar).
func windowsStoreOf(c *certstore.Certificate) (certstore.WindowsLocation, bool) {
	scheme, rest, ok := strings.Cut(c.Source, ":")
	if !ok || !strings.EqualFold(scheme, certstore.SchemeWindows) {
		return certstore.WindowsLocation{}, false
	}
	loc, err := certstore.ParseWindowsLocation(rest)
	if err != nil {
		return certstore.WindowsLocation{}, false
	}
	return loc, true
}

// openWindowsKey opens the store key of chosen and proves it signs for the
// certificate's public key. On error nothing stays open.
func (c *ConnectorClientCert) openWindowsKey(loc certstore.WindowsLocation, chosen *certstore.Certificate) (storeKey, error) {
	k, err := openStoreKey(loc, chosen.Thumbprint)
	if err != nil {
		return nil, fmt.Errorf("%w: key of %s in the Windows store %s cannot be used for signing: %w", ErrClientCert, chosen.Thumbprint, loc, err)
	}
	if err := certread.VerifyKeyPair(k, chosen.Cert.PublicKey); err != nil {
		_ = k.Close()
		return nil, fmt.Errorf("%w: key of %s in the Windows store %s: %w", ErrClientCert, chosen.Thumbprint, loc, err)
	}
	return k, nil
}

// fileKey loads the key of a certificate whose key is a file (pemdir,
// PKCS#12).
func (c *ConnectorClientCert) fileKey(chosen *certstore.Certificate) (crypto.Signer, error) {
	if chosen.KeySource == "" {
		return nil, fmt.Errorf("%w: the store does not say where the key of %s is", ErrClientCert, chosen.Thumbprint)
	}
	if _, err := os.Stat(chosen.KeySource); err != nil {
		return nil, fmt.Errorf("%w: key of %s is not a file the agent can present (%s): %w", ErrClientCert, chosen.Thumbprint, chosen.KeySource, err)
	}
	return loadKeyFor(chosen.KeySource, chosen.Cert, c.PFXPasswords)
}

// perSignatureKey signs with a Windows store key that it opens for each
// signature and closes right after, so a certificate handed to a caller
// that never releases anything holds no OS handle between handshakes.
type perSignatureKey struct {
	loc        certstore.WindowsLocation
	thumbprint string
	pub        crypto.PublicKey
}

func (k *perSignatureKey) Public() crypto.PublicKey { return k.pub }

func (k *perSignatureKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s, err := openStoreKey(k.loc, k.thumbprint)
	if err != nil {
		return nil, err
	}
	// A failure to free the handle does not change the signature.
	defer s.Close() //nolint:errcheck // see above
	return s.Sign(rand, digest, opts)
}
