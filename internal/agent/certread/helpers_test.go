package certread

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

func readDir(t *testing.T, dir string, opts certstore.Options) certstore.Contents {
	t.Helper()
	s, err := certstore.OpenDir(dir, opts)
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	inv, err := s.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return inv
}

func findCert(t *testing.T, inv certstore.Contents, c *x509.Certificate) certstore.Certificate {
	t.Helper()
	for _, got := range inv.Certificates {
		if got.Cert != nil && string(got.Cert.Raw) == string(c.Raw) {
			return got
		}
	}
	t.Fatalf("certificate %q (serial %v) not in inventory; have %d certs, problems %v", c.Subject, c.SerialNumber, len(inv.Certificates), inv.Problems)
	return certstore.Certificate{}
}
