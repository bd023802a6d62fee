// Package renewaltest builds what hybrid Edge servers' agents report for
// the renewal pre-flight (an Exchange connector check result with the
// inventory document and the transport store's listing with DER), the way
// the agent's connector check builds it, for tests of the controller side
// (renewal, api, web, node).
package renewaltest

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// ConnectorCheck is the check name the results carry (renewal.ConnectorCheck).
const ConnectorCheck = "exchange_connectors"

// PKI is the fleet's certificate authorities and the Edge servers'
// current certificate (mail.contoso.com from Contoso Issuing CA).
type PKI struct {
	Contoso, Fabrikam *lab.CA
	Old               *lab.Issued
}

// NewPKI mints the CAs and the current certificate, which expires at oldExpiry.
func NewPKI(t testing.TB, now, oldExpiry time.Time) *PKI {
	t.Helper()
	c, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	f, err := lab.NewCA("Fabrikam Public CA")
	if err != nil {
		t.Fatal(err)
	}
	return &PKI{Contoso: c, Fabrikam: f, Old: Issue(t, c, now, oldExpiry)}
}

// Issue mints mail.contoso.com (SANs for edge01/edge02) from ca.
func Issue(t testing.TB, ca *lab.CA, now, notAfter time.Time) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", DNSNames: []string{"mail.contoso.com", "edge01.contoso.com", "edge02.contoso.com"},
		ServerAuth: true, ClientAuth: true, Organization: []string{"Contoso"}, NotBefore: now.AddDate(-1, 0, 0), NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// Edge is the Hello and connector check result of a hybrid Edge server
// name (e.g. EDGE01) whose connectors use current (exchangetest.SeedConfig);
// alsoInStore follow it in the store (imported later).
func Edge(t testing.TB, id, site, name string, current *lab.Issued, alsoInStore ...*lab.Issued) (*mxv1.Hello, *mxv1.CheckResult) {
	t.Helper()
	cfg := exchangetest.SeedConfig(current.Cert, current.Thumbprint())
	cfg.Server.Name, cfg.Server.Fqdn = name, strings.ToLower(name)+".contoso.com"
	cfg.TransportService.Name = name
	cfg.SendConnectors[0].SourceTransportServers = []string{name}
	cfg.ReceiveConnectors[0].Name, cfg.ReceiveConnectors[0].Server = "Default internal receive connector "+name, name
	var doc bytes.Buffer
	if err := exchange.WriteConfig(&doc, cfg); err != nil {
		t.Fatal(err)
	}
	st := certstore.Contents{Location: `windows:LocalMachine\My`, Certificates: []certstore.Certificate{{
		Thumbprint: current.Thumbprint(), Cert: current.Cert, HasPrivateKey: true, Key: certstore.KeyUsable, Source: `windows:LocalMachine\My`}}}
	for _, is := range alsoInStore {
		st.Certificates = append(st.Certificates, certstore.Certificate{Thumbprint: is.Thumbprint(), Cert: is.Cert, HasPrivateKey: true, Key: certstore.KeyUsable, Source: `windows:LocalMachine\My`})
	}
	h := &mxv1.Hello{AgentId: id, Site: site, Hostname: strings.ToLower(name) + ".contoso.com", Roles: []mxv1.Role{mxv1.Role_ROLE_EDGE}}
	r := &mxv1.CheckResult{Check: ConnectorCheck, Target: "collect", Status: mxv1.CheckStatus_CHECK_STATUS_OK,
		ExchangeInventory: doc.Bytes(), Certificates: certdiag.TransportSummaries([]certstore.Contents{st})}
	return h, r
}

// PFX encodes is with its key and chain under password.
func PFX(t testing.TB, is *lab.Issued, password string) []byte {
	t.Helper()
	b, err := pkcs12.Modern.WithRand(rand.Reader).Encode(is.Key, is.Cert, is.Chain, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
