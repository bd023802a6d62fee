package exchcollect_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// Get-InboundConnector exported on its own in Exchange Online PowerShell
// (UTF-16 LE): the OnPremises connector of the hybrid and a Partner one;
// an export of no object is an empty list; a file of on-premises objects
// only is refused, naming them.
func TestLoadInboundConnectorsFile(t *testing.T) {
	dir := tempdir.New(t)
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("exo-inbound.xml", clixmltest.UTF16LE(clixmltest.Document(
		clixmltest.InboundConnector{Name: "Inbound from 2f1e0c55-7a3b-4c9e-9b1d-0e6f5a4b3c2d", ConnectorType: "OnPremises", Enabled: true,
			TlsSenderCertificateName: "mail.contoso.com", RequireTls: true, RestrictDomains: true, SenderDomains: []string{"smtp:*;1"}}.Obj(),
		clixmltest.InboundConnector{Name: "Partner Fabrikam", ConnectorType: "Partner", Enabled: true, TlsSenderCertificateName: "*.fabrikam.com", RequireTls: true}.Obj())))
	got, err := exchcollect.LoadInboundConnectorsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ConnectorType != "OnPremises" || got[0].TlsSenderCertificateName != "mail.contoso.com" || !got[0].Enabled ||
		got[1].ConnectorType != "Partner" || got[1].TlsSenderCertificateName != "*.fabrikam.com" {
		t.Fatalf("inbound connectors %+v", got)
	}
	empty := write("none.xml", clixmltest.UTF16LE(clixmltest.Document()))
	if got, err := exchcollect.LoadInboundConnectorsFile(empty); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty export: %v, %+v", err, got)
	}
	onprem := write("send.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.SendConnector{Name: "Outbound to Office 365", Enabled: true}.Obj())))
	if _, err := exchcollect.LoadInboundConnectorsFile(onprem); !errors.Is(err, exchange.ErrInvalidConfig) || !strings.Contains(err.Error(), "SmtpSendConnectorConfig") {
		t.Fatalf("on-premises export: %v", err)
	}
	if _, err := exchcollect.LoadInboundConnectorsFile(filepath.Join(dir, "absent.xml")); err == nil {
		t.Fatal("missing file read")
	}
}
