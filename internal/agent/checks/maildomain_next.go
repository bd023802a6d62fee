package checks

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/dane"
)

// storeCerts reads the stores once per run for the renewal lookup (nil
// until the first MX whose chain is known asks).
type storeCerts struct {
	stores []Store
	read   bool
	certs  []storeCert
}

type storeCert struct {
	c      *x509.Certificate
	key    bool
	source string
}

func (s *storeCerts) load(ctx context.Context) []storeCert {
	if s.read {
		return s.certs
	}
	s.read = true
	for _, st := range s.stores {
		if st.Store == nil || st.OpenErr != nil {
			continue // the certstore check reports a store it cannot open
		}
		cs, err := readStore(ctx, st.URI, st.Store)
		if err != nil {
			continue // ... or read; no renewal is claimed from it
		}
		for _, c := range cs.Certificates {
			if c.Cert != nil {
				s.certs = append(s.certs, storeCert{c: c.Cert, key: c.HasPrivateKey, source: st.URI})
			}
		}
	}
	return s.certs
}

// next finds the newest renewal of the presented leaf (dane.Successor) with
// its key in the stores, with what the server may send above it: the
// presented intermediates and the stores' CA certificates.
func (s *storeCerts) next(ctx context.Context, chain []*x509.Certificate, now time.Time) *diagnose.NextCertificate {
	if len(chain) == 0 || len(s.stores) == 0 {
		return nil
	}
	certs := s.load(ctx)
	var best *storeCert
	for i, c := range certs {
		if c.key && dane.Successor(chain[0], c.c, now) && (best == nil || c.c.NotBefore.After(best.c.NotBefore)) {
			best = &certs[i]
		}
	}
	if best == nil {
		return nil
	}
	inter := append([]*x509.Certificate{}, chain[1:]...)
	for _, c := range certs {
		if c.c.IsCA {
			inter = append(inter, c.c)
		}
	}
	return &diagnose.NextCertificate{Cert: best.c, Intermediates: inter, Source: best.source}
}
