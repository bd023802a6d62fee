package renewal

import (
	"errors"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
)

// FuzzParseUpload: an upload from the network never panics; what is
// refused is a bad request; what is accepted holds no key the statement did
// not put there (key_source none: no certificate has a key).
func FuzzParseUpload(f *testing.F) {
	p := renewaltest.NewPKI(f, now, now.AddDate(0, 0, 20))
	key, _ := p.Old.KeyPEM()
	f.Add(p.Old.ChainPEM())
	f.Add(p.Old.Cert.Raw)
	f.Add(append(p.Old.ChainPEM(), key...))
	f.Add(renewaltest.PFX(f, p.Old, "pw"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		c, _, err := ParseUpload(t.Context(), &mxv1.PreflightCertificateRequest{Certificate: b, KeySource: KeyNone})
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && PublicOnly(b) != nil {
				t.Fatalf("refused without ErrBadRequest: %v", err)
			}
			return
		}
		for _, x := range c.Certificates {
			if x.HasPrivateKey {
				t.Fatalf("accepted upload has a key: %s", x.Thumbprint)
			}
		}
	})
}
