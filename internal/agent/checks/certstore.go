package checks

import (
	"context"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
)

// CertStore scans one certificate store.
type CertStore struct {
	URI   string
	Store certstore.Store
	// OpenErr is why the store could not be opened (Store is nil then); the
	// check reports it as CERT_STORE_UNREADABLE and an error.
	OpenErr error
	Opts    diagnose.Options
	// Exchange, when set, tells which certificates transport could select
	// (certdiag.TransportUse); without it the severity of key findings says
	// that this is not known.
	Exchange *ExchangeSource
}

func (c *CertStore) Name() string   { return "certstore" }
func (c *CertStore) Target() string { return c.URI }

// Run reads and diagnoses the store. An unreadable store is both a
// CERT_STORE_UNREADABLE finding (so the controller sees it) and an error.
func (c *CertStore) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	fs, _, err := c.RunInventory(ctx)
	return fs, err
}

// RunInventory is Run plus every certificate of the store
// (certdiag.Summaries), for the controller's inventory.
func (c *CertStore) RunInventory(ctx context.Context) ([]*mxv1.Finding, []*mxv1.CertificateSummary, error) {
	if c.Store == nil {
		err := c.OpenErr
		if err == nil {
			err = ErrNoStore
		}
		return []*mxv1.Finding{diagnose.StoreUnreadable(c.URI, err, c.Opts)}, nil, fmt.Errorf("open %s: %w", c.URI, err)
	}
	inv, err := readStore(ctx, c.URI, c.Store)
	if err != nil {
		return []*mxv1.Finding{diagnose.StoreUnreadable(c.URI, err, c.Opts)}, nil, fmt.Errorf("read %s: %w", c.URI, err)
	}
	var use certdiag.TransportUse
	if c.Exchange != nil {
		// A configuration that cannot be read is reported by the connector
		// check; here it only means the use stays unknown.
		if cfg, err := c.Exchange.LoadConfig(ctx); err == nil {
			if u, err := certdiag.TransportUseOf(cfg, inv.Certificates, c.Opts); err == nil {
				use = u
			}
		}
	}
	return certdiag.CertStoreFor(inv, use, c.Opts), certdiag.Summaries(inv), nil
}
