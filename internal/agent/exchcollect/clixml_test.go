package exchcollect_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

const tlsName = "<I>CN=Contoso Issuing CA, O=Contoso, C=NL<S>CN=mail.contoso.com, O=Contoso, C=NL"

func edgeExports() (send, recv, ts, srv *clixmltest.Node, recv2 *clixmltest.Node) {
	send = clixmltest.SendConnector{Name: "Outbound to Office 365", Enabled: true, Fqdn: "mail.contoso.com", TlsCertificateName: tlsName,
		TlsDomain: "mail.protection.outlook.com", TlsAuthLevel: "DomainValidation", RequireTLS: true, CloudServicesMailEnabled: true,
		AddressSpaces: []string{"smtp:tenant.mail.onmicrosoft.com;1"}, SourceTransportServers: []string{"EDGE01"}, ProtocolLoggingLevel: "Verbose", DNSRoutingEnabled: true}.Obj()
	recv = clixmltest.ReceiveConnector{Server: "EDGE01", Name: "Default internal receive connector EDGE01", Enabled: true, Fqdn: "edge01.contoso.com",
		Bindings: []string{"0.0.0.0:25", "[::]:25"}, AuthMechanism: "Tls, ExchangeServer", AuthMechanismValue: 17,
		TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}, TransportRole: "HubTransport"}.Obj()
	recv2 = clixmltest.ReceiveConnector{Server: "EDGE01", Name: "Partners", Enabled: true, Fqdn: "mail.contoso.com", TlsCertificateName: tlsName,
		Bindings: []string{"10.0.0.5:2525"}, AuthMechanism: "None", AuthMechanismValue: 0, TransportRole: "HubTransport", ProtocolLoggingLevel: "Verbose", RequireTLS: true}.Obj()
	ts = clixmltest.TransportService{Name: "EDGE01", InternalTransportCertificateThumbprint: "b79d6c2e1a0f4b3c8d9e7f6a5b4c3d2e1f0a9b8c",
		SendProtocolLogPath: `C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\Edge\ProtocolLog\SmtpSend`}.Obj()
	srv = clixmltest.ExchangeServer{Name: "EDGE01", Fqdn: "edge01.contoso.com", AdminDisplayVersion: "Version 15.2 (Build 1118.7)", ServerRole: "Edge", IsEdgeServer: true}.Obj()
	return
}

func checkEdge(t *testing.T, cfg *exchange.Config, withServer bool) {
	t.Helper()
	if cfg.Collector != "Export-Clixml" {
		t.Errorf("collector %q", cfg.Collector)
	}
	if cfg.Server.Name != "EDGE01" || withServer && (cfg.Server.Fqdn != "edge01.contoso.com" || cfg.Server.Role() != exchange.RoleEdge || !strings.Contains(cfg.Server.AdminDisplayVersion, "1118")) {
		t.Errorf("server %+v", cfg.Server)
	}
	if cfg.TransportService.InternalTransportCertificateThumbprint != "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C" || !strings.HasSuffix(cfg.TransportService.SendProtocolLogPath, `ProtocolLog\SmtpSend`) {
		t.Errorf("transport service %+v", cfg.TransportService)
	}
	if len(cfg.SendConnectors) != 1 {
		t.Fatalf("send connectors %+v", cfg.SendConnectors)
	}
	s := cfg.SendConnectors[0]
	if s.Name != "Outbound to Office 365" || s.TlsCertificateName != tlsName || s.Fqdn != "mail.contoso.com" || !s.RequireTLS || s.TlsAuthLevel != exchange.TLSAuthDomainValidation ||
		s.TlsDomain != "mail.protection.outlook.com" || !s.CloudServicesMailEnabled || len(s.AddressSpaces) != 1 || s.AddressSpaces[0].Address != "tenant.mail.onmicrosoft.com" ||
		!slices.Equal(s.SourceTransportServers, []string{"EDGE01"}) || s.ProtocolLoggingLevel != exchange.ProtocolLoggingVerbose {
		t.Errorf("send connector %+v", s)
	}
	if exo, _ := s.TargetsExchangeOnline(); !exo {
		t.Error("send connector does not target Exchange Online")
	}
	if len(cfg.ReceiveConnectors) != 2 {
		t.Fatalf("receive connectors %+v", cfg.ReceiveConnectors)
	}
	r := cfg.ReceiveConnectors[0]
	if r.Name != "Default internal receive connector EDGE01" || r.Server != "EDGE01" || r.TlsCertificateName != "" || r.Fqdn != "edge01.contoso.com" ||
		!slices.Equal(r.Bindings, []string{"0.0.0.0:25", "[::]:25"}) || !r.HasAuthMechanism("Tls") ||
		!slices.Equal(r.TlsDomainCapabilities, []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}) {
		t.Errorf("receive connector %+v", r)
	}
	p := cfg.ReceiveConnectors[1]
	if p.TlsCertificateName != tlsName || p.HasAuthMechanism("Tls") || !p.RequireTLS || !slices.Equal(p.Ports(), []int{2525}) {
		t.Errorf("second receive connector %+v", p)
	}
}

// Export-Clixml of each cmdlet, in the encodings Windows PowerShell 5.1
// (UTF-16 LE) and a re-saved file (UTF-8 with BOM) have, in one directory.
func TestCLIXMLInventoryDirectory(t *testing.T) {
	send, recv, ts, srv, recv2 := edgeExports()
	dir := tempdir.New(t)
	for name, data := range map[string][]byte{
		"send.xml":      clixmltest.UTF16LE(clixmltest.Document(send)),
		"receive.xml":   clixmltest.UTF8BOM(clixmltest.Document(recv, recv2)),
		"transport.xml": clixmltest.UTF16LE(clixmltest.Document(ts)),
		"server.xml":    []byte(clixmltest.Document(srv)),
		"notes.txt":     []byte("not read"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := exchcollect.LoadConfigFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkEdge(t, cfg, true)
}

// One file holding everything (piped together), without Get-ExchangeServer:
// the server is named after the transport service.
func TestCLIXMLInventoryOneFile(t *testing.T) {
	send, recv, ts, _, recv2 := edgeExports()
	p := filepath.Join(tempdir.New(t), "edge01.xml")
	if err := os.WriteFile(p, clixmltest.UTF16LE(clixmltest.Document(send, recv, recv2, ts)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := exchcollect.LoadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	checkEdge(t, cfg, false)
}

func TestCLIXMLInventoryRefusesOtherObjects(t *testing.T) {
	svc := clixmltest.Obj("", []string{"System.ServiceProcess.ServiceController", "System.ComponentModel.Component", "System.Object"}, "System.ServiceProcess.ServiceController",
		[]*clixmltest.Node{clixmltest.S("Name", "MSExchangeTransport")})
	p := filepath.Join(tempdir.New(t), "services.xml")
	if err := os.WriteFile(p, clixmltest.UTF16LE(clixmltest.Document(svc)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := exchcollect.LoadConfigFile(p)
	if !errors.Is(err, exchange.ErrInvalidConfig) || !strings.Contains(err.Error(), "ServiceController") {
		t.Fatalf("err = %v", err)
	}
	// A truncated export is an error, not a partial inventory.
	send, _, _, _, _ := edgeExports()
	doc := clixmltest.Document(send)
	if err := os.WriteFile(p, clixmltest.UTF16LE(doc[:len(doc)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exchcollect.LoadConfigFile(p); !errors.Is(err, exchange.ErrInvalidConfig) {
		t.Fatalf("truncated: err = %v", err)
	}
}

// Exchange Online's Get-InboundConnector export added to the on-premises
// exports: its TlsSenderCertificateName is read, on-premises objects are
// unchanged; without it the inventory has no inbound connectors (nil: not
// known, as opposed to an export holding none).
func TestCLIXMLInventoryWithExchangeOnlineInboundConnector(t *testing.T) {
	send, recv, ts, srv, recv2 := edgeExports()
	in := clixmltest.InboundConnector{Name: "Inbound from 2f1e0c55-7a3b-4c9e-9b1d-0e6f5a4b3c2d", ConnectorType: "OnPremises", Enabled: true,
		TlsSenderCertificateName: "mail.contoso.com", RequireTls: true, RestrictDomains: true, SenderDomains: []string{"smtp:*;1"}}.Obj()
	dir := tempdir.New(t)
	for name, data := range map[string][]byte{
		"onprem.xml": clixmltest.UTF16LE(clixmltest.Document(send, recv, recv2, ts, srv)),
		"exo-in.xml": clixmltest.UTF16LE(clixmltest.Document(in)),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := exchcollect.LoadConfigFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkEdge(t, cfg, true)
	if len(cfg.InboundConnectors) != 1 {
		t.Fatalf("inbound connectors %+v", cfg.InboundConnectors)
	}
	c := cfg.InboundConnectors[0]
	if !strings.HasPrefix(c.Name, "Inbound from ") || c.ConnectorType != "OnPremises" || !c.Enabled || c.TlsSenderCertificateName != "mail.contoso.com" || !c.RequireTls || !c.RestrictDomainsToCertificate {
		t.Errorf("inbound connector %+v", c)
	}
	if err := os.Remove(filepath.Join(dir, "exo-in.xml")); err != nil {
		t.Fatal(err)
	}
	if cfg, err = exchcollect.LoadConfigFile(dir); err != nil || cfg.InboundConnectors != nil {
		t.Fatalf("without the export: %v, %+v", err, cfg.InboundConnectors)
	}
}

func TestLoadConfigFileMissing(t *testing.T) {
	_, err := exchcollect.LoadConfigFile(filepath.Join(tempdir.New(t), "nope.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
