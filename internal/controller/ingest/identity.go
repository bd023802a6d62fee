package ingest

import (
	"crypto/x509"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/identity"
)

func parseCert(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }

// bindIdentity makes the Hello agree with the certificate: the agent's id
// and site come from the certificate, never from what the Hello claims.
func bindIdentity(h *mxv1.Hello, id identity.Identity) error {
	if h.GetAgentId() != id.AgentID {
		return fmt.Errorf("hello claims agent %q but the certificate is for %q", h.GetAgentId(), id.AgentID)
	}
	if h.GetSite() != "" && h.GetSite() != id.Site {
		return fmt.Errorf("hello claims site %q but the certificate is for site %q", h.GetSite(), id.Site)
	}
	h.Site = id.Site
	return nil
}
