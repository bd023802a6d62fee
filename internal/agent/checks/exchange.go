package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// CollectExchangeConfig is the exchange_inventory value that collects the
// inventory live through the Exchange Management Shell (Windows only).
const CollectExchangeConfig = "collect"

// Store is a certificate store with the URI it was opened from.
type Store struct {
	URI     string
	Store   certstore.Store
	OpenErr error
}

// ExchangeSource loads what Exchange's certificate choice depends on: the
// connector inventory and the certificate store transport reads.
type ExchangeSource struct {
	// Config is a file (docs/exchange-inventory.md) or CollectExchangeConfig.
	Config string
	// Stores are read in order and their certificates concatenated (in
	// practice one: windows:LocalMachine\My, or its snapshot/pemdir copy).
	Stores  []Store
	Collect powershell.Options
	// collect replaces the live collection (tests count collections).
	collect func(context.Context) (*exchange.Config, error)
}

// LoadConfig reads the Exchange configuration alone.
func (e *ExchangeSource) LoadConfig(ctx context.Context) (*exchange.Config, error) {
	inv, err := loadExchangeConfig(ctx, e.Config, func() (*exchange.Config, error) {
		switch {
		case e.collect != nil:
			return e.collect(ctx)
		case e.Config == CollectExchangeConfig:
			return exchcollect.Collect(ctx, e.Collect)
		}
		return exchcollect.LoadConfigFile(e.Config)
	})
	if err != nil {
		return nil, fmt.Errorf("exchange inventory %s: %w", e.Config, err)
	}
	return inv, nil
}

// Load reads the inventory and the stores.
func (e *ExchangeSource) Load(ctx context.Context) (*exchange.Config, []certstore.Certificate, error) {
	inv, stores, err := e.LoadStores(ctx)
	if err != nil {
		return nil, nil, err
	}
	var certs []certstore.Certificate
	for _, si := range stores {
		certs = append(certs, si.Certificates...)
	}
	return inv, certs, nil
}

// LoadStores reads the inventory and each store's contents, in order.
func (e *ExchangeSource) LoadStores(ctx context.Context) (*exchange.Config, []certstore.Contents, error) {
	inv, err := e.LoadConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(e.Stores) == 0 {
		return nil, nil, fmt.Errorf("exchange inventory %s: %w", e.Config, ErrNoStore)
	}
	var stores []certstore.Contents
	for _, s := range e.Stores {
		if s.Store == nil {
			return nil, nil, fmt.Errorf("certificate store %s: %w", s.URI, errors.Join(ErrNoStore, s.OpenErr))
		}
		si, err := readStore(ctx, s.URI, s.Store)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate store %s: %w", s.URI, err)
		}
		stores = append(stores, si)
	}
	return inv, stores, nil
}

// Connectors simulates Exchange's certificate choice for every connector and
// checks connector TLS settings.
type Connectors struct {
	Source *ExchangeSource
	Diag   diagnose.Options
}

func (c *Connectors) Name() string   { return "exchange_connectors" }
func (c *Connectors) Target() string { return c.Source.Config }

func (c *Connectors) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	fs, _, err := c.RunExchange(ctx)
	return fs, err
}

// maxInventoryDocument bounds the inventory document a result carries
// (the controller refuses more); a larger one is left out.
const maxInventoryDocument = 256 << 10

// RunExchange is Run plus what it ran on, for the controller's renewal
// pre-flight: the inventory document and the transport stores' listing
// with DER (certdiag.TransportSummaries).
func (c *Connectors) RunExchange(ctx context.Context) ([]*mxv1.Finding, *Inventory, error) {
	inv, stores, err := c.Source.LoadStores(ctx)
	if err != nil {
		return nil, nil, err
	}
	var certs []certstore.Certificate
	for _, si := range stores {
		certs = append(certs, si.Certificates...)
	}
	o := c.Diag
	if inv.Server.Fqdn != "" {
		o.Host = inv.Server.Fqdn
	}
	fs, err := certdiag.Connectors(inv, certs, o)
	if err != nil {
		return nil, nil, err
	}
	var doc bytes.Buffer
	out := &Inventory{Certificates: certdiag.TransportSummaries(stores)}
	// Without the collection time, an unchanged inventory is the same
	// document every round (and left out: exchange_inventory_unchanged).
	undated := *inv
	undated.CollectedAt = time.Time{}
	if exchange.WriteConfig(&doc, &undated) == nil && doc.Len() <= maxInventoryDocument {
		out.Document = doc.Bytes()
	}
	return fs, out, nil
}

// Inventory is what an Exchange connector check ran on.
type Inventory struct {
	// Document is the connector inventory (docs/exchange-inventory.md).
	Document []byte
	// Certificates lists the stores transport reads, with DER.
	Certificates []*mxv1.CertificateSummary
}

// Exchanged is a check that also returns the Exchange inventory it ran
// on. RunAll calls it instead of Run.
type Exchanged interface {
	Check
	RunExchange(ctx context.Context) ([]*mxv1.Finding, *Inventory, error)
}
