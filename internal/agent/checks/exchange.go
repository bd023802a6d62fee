package checks

import (
	"context"
	"errors"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/exchange"
)

// CollectInventory is the exchange_inventory value that collects the
// inventory live through the Exchange Management Shell (Windows only).
const CollectInventory = "collect"

// Store is a certificate store with the URI it was opened from.
type Store struct {
	URI     string
	Store   certstore.Store
	OpenErr error
}

// ExchangeSource loads what Exchange's certificate choice depends on: the
// connector inventory and the certificate store transport reads.
type ExchangeSource struct {
	// Inventory is a file (docs/exchange-inventory.md) or CollectInventory.
	Inventory string
	// Stores are read in order and their certificates concatenated (in
	// practice one: windows:LocalMachine\My, or its snapshot/pemdir copy).
	Stores  []Store
	Collect exchange.CollectOptions
}

// Load reads the inventory and the stores.
func (e *ExchangeSource) Load(ctx context.Context) (*exchange.Inventory, []certstore.Certificate, error) {
	var inv *exchange.Inventory
	var err error
	if e.Inventory == CollectInventory {
		inv, err = exchange.Collect(ctx, e.Collect)
	} else {
		inv, err = exchange.LoadInventoryFile(e.Inventory)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("exchange inventory %s: %w", e.Inventory, err)
	}
	if len(e.Stores) == 0 {
		return nil, nil, fmt.Errorf("exchange inventory %s: %w", e.Inventory, ErrNoStore)
	}
	var certs []certstore.Certificate
	for _, s := range e.Stores {
		if s.Store == nil {
			return nil, nil, fmt.Errorf("certificate store %s: %w", s.URI, errors.Join(ErrNoStore, s.OpenErr))
		}
		si, err := s.Store.Read(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate store %s: %w", s.URI, err)
		}
		certs = append(certs, si.Certificates...)
	}
	return inv, certs, nil
}

// Connectors simulates Exchange's certificate choice for every connector and
// checks connector TLS settings.
type Connectors struct {
	Source *ExchangeSource
	Diag   diagnose.Options
}

func (c *Connectors) Name() string   { return "exchange_connectors" }
func (c *Connectors) Target() string { return c.Source.Inventory }

func (c *Connectors) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	inv, certs, err := c.Source.Load(ctx)
	if err != nil {
		return nil, err
	}
	o := c.Diag
	if inv.Server.Fqdn != "" {
		o.Host = inv.Server.Fqdn
	}
	return diagnose.Connectors(inv, certs, o)
}
