package clixml_test

import (
	"fmt"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
)

// BenchmarkDecodeReceiveConnectors: a UTF-16 export of 100 receive
// connectors (about the size of a large organisation's Get-ReceiveConnector).
func BenchmarkDecodeReceiveConnectors(b *testing.B) {
	var objs []*clixmltest.Node
	for i := range 100 {
		objs = append(objs, clixmltest.ReceiveConnector{Server: "E19", Name: fmt.Sprintf("Connector %d", i), Enabled: true, Fqdn: "mail.contoso.com",
			Bindings: []string{"0.0.0.0:25", "[::]:25"}, AuthMechanism: "Tls, ExchangeServer", AuthMechanismValue: 17,
			TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}, TransportRole: "FrontendTransport"}.Obj())
	}
	data := clixmltest.UTF16LE(clixmltest.Document(objs...))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := clixml.DecodeBytes(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range clixml.Records(vs) {
			_ = r.JSON()
		}
	}
}
