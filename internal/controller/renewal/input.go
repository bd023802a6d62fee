package renewal

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// ConnectorCheck is the agent check whose result carries the inventory
// (internal/agent/checks.Connectors).
const ConnectorCheck = "exchange_connectors"

// Sentinel errors: why an agent's report cannot be predicted on.
var (
	// ErrNoInventory: the result carries no inventory document (an agent
	// older than the field, or a document over its bound).
	ErrNoInventory = errors.New("the agent's Exchange connector check reports no connector inventory (agent older than the pre-flight, or inventory over 256 KiB)")
	// ErrNoDER: a certificate of the transport stores came without DER.
	ErrNoDER = errors.New("the store listing lacks a certificate's DER (listing over 512 KiB, or an agent older than the pre-flight)")
)

// input rebuilds what the connector check ran on from its result.
func input(r *mxv1.CheckResult) (*exchange.Config, certstore.Contents, error) {
	doc := r.GetExchangeInventory()
	if len(doc) == 0 {
		return nil, certstore.Contents{}, ErrNoInventory
	}
	cfg, err := exchange.LoadConfig(bytes.NewReader(doc))
	if err != nil {
		return nil, certstore.Contents{}, fmt.Errorf("connector inventory: %w", err)
	}
	var st certstore.Contents
	for _, s := range r.GetCertificates() {
		if st.Location == "" {
			st.Location = s.GetStore()
		}
		if len(s.GetDer()) == 0 {
			return nil, certstore.Contents{}, fmt.Errorf("%s: %w", s.GetThumbprint(), ErrNoDER)
		}
		x, err := x509.ParseCertificate(s.GetDer())
		if err != nil {
			return nil, certstore.Contents{}, fmt.Errorf("certificate %s: %w", s.GetThumbprint(), err)
		}
		key, _ := certstore.ParseKeyStatus(s.GetKeyStatus())
		c := certstore.Certificate{Thumbprint: s.GetThumbprint(), Cert: x, HasPrivateKey: s.GetHasPrivateKey(), Key: key,
			Source: s.GetStore(), Sources: []string{s.GetStore()}, FriendlyName: s.GetFriendlyName(), Services: s.GetServices()}
		switch s.GetTransportKeyAccess() {
		case certdiag.KeyAccessReadable:
			c.TransportCanReadKey = ptr(true)
		case certdiag.KeyAccessDenied:
			c.TransportCanReadKey = ptr(false)
		}
		st.Certificates = append(st.Certificates, c)
	}
	return cfg, st, nil
}

func ptr[T any](v T) *T { return &v }
