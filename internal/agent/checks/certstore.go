package checks

import (
	"context"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
)

// CertStore scans one certificate store.
type CertStore struct {
	URI   string
	Store certstore.Store
	Opts  diagnose.Options
}

func (c *CertStore) Name() string   { return "certstore" }
func (c *CertStore) Target() string { return c.URI }

func (c *CertStore) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	inv, err := c.Store.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.URI, err)
	}
	return diagnose.CertStore(inv, c.Opts), nil
}
