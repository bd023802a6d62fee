package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/exchange"
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

// Certificate returns the chosen certificate with its key and its
// thumbprint. The thumbprint is returned with the error when the selected
// certificate cannot be presented (no key: exactly what makes transport fail
// with NoCredentials).
func (c *ConnectorClientCert) Certificate(ctx context.Context) (*tls.Certificate, string, error) {
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
		return nil, "", fmt.Errorf("%w: no send connector %q in %s", ErrClientCert, c.Connector, c.Source.Inventory)
	}
	sel := exchange.SelectSend(*conn, inv.Server.Fqdn, certs, exchange.SelectOptions{})
	if sel.Selected == "" {
		return nil, "", fmt.Errorf("%w: send connector %q selects no certificate: %s", ErrClientCert, c.Connector, sel.Explanation)
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
	if !chosen.HasPrivateKey || chosen.Key == certstore.KeyAbsent || chosen.Key == certstore.KeyUnusable {
		return nil, sel.Selected, fmt.Errorf("%w: send connector %q selects certificate %s, which has no usable private key (transport fails with NoCredentials)", ErrClientCert, c.Connector, sel.Selected)
	}
	if chosen.KeySource == "" {
		return nil, sel.Selected, fmt.Errorf("%w: the store does not say where the key of %s is", ErrClientCert, sel.Selected)
	}
	if _, err := os.Stat(chosen.KeySource); err != nil {
		return nil, sel.Selected, fmt.Errorf("%w: key of %s is not a file the agent can present (%s): %w", ErrClientCert, sel.Selected, chosen.KeySource, err)
	}
	key, err := loadKeyFor(chosen.KeySource, chosen.Cert, c.PFXPasswords)
	if err != nil {
		return nil, sel.Selected, err
	}
	return &tls.Certificate{Certificate: [][]byte{chosen.Cert.Raw}, PrivateKey: key, Leaf: chosen.Cert}, sel.Selected, nil
}
