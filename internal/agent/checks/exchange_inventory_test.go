package checks

import (
	"bytes"
	"crypto/x509"
	"testing"

	"github.com/mxprobe/mxprobe/internal/exchange"
)

// The Exchange connector check's result carries what it ran on, for the
// controller's renewal pre-flight: the inventory document (readable back
// by exchange.LoadConfig, undated so an unchanged inventory stays the same
// bytes) and the transport store's certificates with their DER.
func TestConnectorResultCarriesInventoryAndDER(t *testing.T) {
	spec, self := hybridInboundSpec(t, false)
	res := runSpec(t, spec)
	var found bool
	for _, r := range res {
		if r.GetCheck() != "exchange_connectors" {
			continue
		}
		found = true
		cfg, err := exchange.LoadConfig(bytes.NewReader(r.GetExchangeInventory()))
		if err != nil {
			t.Fatalf("inventory document: %v\n%s", err, r.GetExchangeInventory())
		}
		if len(cfg.ReceiveConnectors) != 1 || cfg.ReceiveConnectors[0].Fqdn != "edge01.contoso.com" || !cfg.CollectedAt.IsZero() {
			t.Errorf("inventory read back: %+v", cfg)
		}
		if len(r.GetCertificates()) != 2 {
			t.Fatalf("listing: %d certificates", len(r.GetCertificates()))
		}
		var selfSeen bool
		for _, c := range r.GetCertificates() {
			x, err := x509.ParseCertificate(c.GetDer())
			if err != nil {
				t.Fatalf("%s: DER: %v", c.GetThumbprint(), err)
			}
			if x.Subject.String() != c.GetSubject() {
				t.Errorf("DER of %s is %s", c.GetSubject(), x.Subject)
			}
			selfSeen = selfSeen || c.GetThumbprint() == self.Thumbprint()
		}
		if !selfSeen {
			t.Error("self-signed certificate not listed")
		}
	}
	if !found {
		t.Fatal("no exchange_connectors result")
	}
	for _, r := range res {
		if r.GetCheck() == "certstore" {
			for _, c := range r.GetCertificates() {
				if len(c.GetDer()) > 0 {
					t.Errorf("certstore listing carries DER for %s", c.GetThumbprint())
				}
			}
		}
	}
}
