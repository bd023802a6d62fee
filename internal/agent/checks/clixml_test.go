package checks

import (
	"os"
	"path/filepath"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// The seed incident from what an admin hands over: Export-Clixml of
// Get-ChildItem Cert:\LocalMachine\My (all three certificates), of
// Get-ExchangeCertificate (only the two with a key), and of the connectors
// and transport service, in one directory, UTF-16 LE as Windows PowerShell
// writes it. The keyless duplicate is found from the difference between the
// two certificate exports; the diagnosis matches the one from the store.
func TestSeedIncidentFromCLIXMLExports(t *testing.T) {
	ca := newCA(t)
	seed, err := lab.WriteSeedStore(filepath.Join(tempdir.New(t), "pem"), ca, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	dir := tempdir.New(t)
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	all := []lab.SeedEntry{seed.Expired, seed.Good, seed.KeylessDuplicate}
	var my, exch []*clixmltest.Node
	for _, e := range all {
		my = append(my, clixmltest.StoreCertificate(e.Cert, e.Thumbprint))
		if e.KeyFile != "" {
			exch = append(exch, clixmltest.ExchangeCertificate(e.Cert, e.Thumbprint, "EDGE01"))
		}
	}
	write("my.xml", clixmltest.UTF16LE(clixmltest.Document(my...)))
	write("exchangecertificate.xml", clixmltest.UTF16LE(clixmltest.Document(exch...)))

	cfg := exchangetest.SeedConfig(seed.Good.Cert, seed.Good.Thumbprint)
	s := cfg.SendConnectors[0]
	var as []string
	for _, a := range s.AddressSpaces {
		as = append(as, a.String())
	}
	write("sendconnector.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.SendConnector{Name: s.Name, Enabled: true, Fqdn: s.Fqdn,
		TlsCertificateName: s.TlsCertificateName, TlsDomain: s.TlsDomain, TlsAuthLevel: "DomainValidation", RequireTLS: true,
		CloudServicesMailEnabled: true, DNSRoutingEnabled: true, AddressSpaces: as, SourceTransportServers: []string{"EDGE01"}, ProtocolLoggingLevel: "Verbose"}.Obj())))
	r := cfg.ReceiveConnectors[0]
	write("receiveconnector.xml", clixmltest.UTF8BOM(clixmltest.Document(clixmltest.ReceiveConnector{Server: "EDGE01", Name: r.Name, Enabled: true, Fqdn: r.Fqdn,
		TlsCertificateName: r.TlsCertificateName, Bindings: r.Bindings, AuthMechanism: "Tls, ExchangeServer", AuthMechanismValue: 17,
		TlsDomainCapabilities: r.TlsDomainCapabilities, TransportRole: "HubTransport"}.Obj())))
	write("transportservice.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.TransportService{Name: "EDGE01", InternalTransportCertificateThumbprint: seed.Good.Thumbprint}.Obj(),
		clixmltest.ExchangeServer{Name: "EDGE01", Fqdn: "edge01.contoso.com", AdminDisplayVersion: "Version 15.2 (Build 330.6)", ServerRole: "Edge", IsEdgeServer: true}.Obj())))

	// The inventory from the exports equals the one the JSON form gives.
	got, err := exchcollect.LoadConfigFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.SendConnectors[0].TlsCertificateName != s.TlsCertificateName || got.Server.Fqdn != "edge01.contoso.com" {
		t.Fatalf("inventory %+v", got)
	}

	fromCLIXML := codeSet(allFindings(runSpec(t, Spec{CertStores: []string{"snapshot:" + dir}, ExchangeInventory: dir})))
	inv := filepath.Join(tempdir.New(t), "inv.json")
	if err := checktest.WriteConfig(inv, cfg); err != nil {
		t.Fatal(err)
	}
	fromStore := codeSet(allFindings(runSpec(t, Spec{CertStores: []string{"pemdir:" + seed.Dir}, ExchangeInventory: inv})))
	for _, want := range []string{
		string(finding.CertNoPrivateKey) + " " + seed.KeylessDuplicate.Thumbprint,
		string(finding.ConnectorSelectsKeyless) + " Outbound to Office 365",
		string(finding.CertDuplicateIdentity),
		string(finding.CertExpired) + " " + seed.Expired.Thumbprint,
	} {
		if !fromCLIXML[want] {
			t.Errorf("from Export-Clixml: %s missing; got %v", want, fromCLIXML)
		}
	}
	for k := range fromStore {
		if !fromCLIXML[k] {
			t.Errorf("the store gives %s, the exports do not", k)
		}
	}
	// Without Get-ExchangeCertificate nothing is known of the keys: no
	// certificate is called keyless.
	if err := os.Remove(filepath.Join(dir, "exchangecertificate.xml")); err != nil {
		t.Fatal(err)
	}
	for k := range codeSet(allFindings(runSpec(t, Spec{CertStores: []string{"snapshot:" + dir}}))) {
		if k == string(finding.CertNoPrivateKey)+" "+seed.KeylessDuplicate.Thumbprint {
			t.Errorf("keyless claimed without evidence: %s", k)
		}
	}
}

// codeSet: "CODE SUBJECT" for each finding, and "CODE" alone.
func codeSet(fs []*mxv1.Finding) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		out[f.Code+" "+f.Subject] = true
		out[f.Code] = true
	}
	return out
}
