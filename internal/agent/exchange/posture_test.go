package exchange

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTargetsExchangeOnline(t *testing.T) {
	tests := []struct {
		c    SendConnector
		want bool
	}{
		{SendConnector{CloudServicesMailEnabled: true}, true},
		{SendConnector{AddressSpaces: []AddressSpace{{"SMTP", "contoso.mail.onmicrosoft.com", 1}}}, true},
		{SendConnector{AddressSpaces: []AddressSpace{{"SMTP", "*.mail.protection.outlook.com", 1}}}, true},
		{SendConnector{SmartHosts: []string{"contoso-com.mail.protection.outlook.com"}}, true},
		{SendConnector{TlsDomain: "mail.protection.outlook.com"}, true},
		{SendConnector{AddressSpaces: []AddressSpace{{"SMTP", "*", 1}}}, false},
		{SendConnector{AddressSpaces: []AddressSpace{{"X400", "mail.onmicrosoft.com", 1}}}, false},
		{SendConnector{SmartHosts: []string{"mail.protection.outlook.com.evil.example"}}, false},
	}
	for i, tt := range tests {
		if got, why := tt.c.TargetsExchangeOnline(); got != tt.want || (got && why == "") {
			t.Errorf("%d: got %v (%q), want %v", i, got, why, tt.want)
		}
	}
}

func TestExchangeOnlineReachability(t *testing.T) {
	tests := []struct {
		r    ReceiveConnector
		role Role
		want Reachability
	}{
		{ReceiveConnector{TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}}, RoleMailbox, ReachExplicit},
		{ReceiveConnector{Bindings: []string{"0.0.0.0:25"}}, RoleEdge, ReachLikely},
		{ReceiveConnector{Bindings: []string{"[::]:25"}, TransportRole: "FrontendTransport"}, RoleMailbox, ReachLikely},
		{ReceiveConnector{Bindings: []string{"0.0.0.0:2525"}, TransportRole: "HubTransport"}, RoleMailbox, ReachNo},
		{ReceiveConnector{Bindings: []string{"0.0.0.0:587"}, TransportRole: "FrontendTransport"}, RoleMailbox, ReachNo},
		{ReceiveConnector{Bindings: []string{"0.0.0.0:25"}}, RoleHubTransport, ReachLikely},
	}
	for i, tt := range tests {
		if got, _ := tt.r.ExchangeOnlineReachability(tt.role); got != tt.want {
			t.Errorf("%d: got %q, want %q", i, got, tt.want)
		}
	}
}

func TestEvaluatePosture(t *testing.T) {
	inv, err := LoadInventoryFile(filepath.Join("testdata", "collector.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Weaken the hybrid connector and strip the TLS name from the front end.
	inv.SendConnectors[0].RequireTLS = false
	inv.SendConnectors[0].TlsAuthLevel = TLSAuthEncryptionOnly
	inv.ReceiveConnectors[0].TlsCertificateName = ""

	issues, err := EvaluatePosture(inv)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, is := range issues {
		got = append(got, is.Code+"/"+is.Connector)
	}
	want := []string{
		"CONNECTOR_NO_TLS_CERT_NAME/App relay",
		"CONNECTOR_NO_TLS_CERT_NAME/Default Frontend EX01",
		"CONNECTOR_WEAK_TLS_AUTH/Outbound to Office 365 - 3f7c",
		"SMTP_STARTTLS_NOT_OFFERED/App relay",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("issues = %v\nwant %v", got, want)
	}
	if !issues[1].Certain || issues[0].Certain {
		t.Errorf("certainty: explicit %v, inferred %v", issues[1].Certain, issues[0].Certain)
	}
	for _, frag := range []string{"RequireTLS is false", "TlsAuthLevel is EncryptionOnly", "CloudServicesMailEnabled"} {
		if !strings.Contains(issues[2].Detail, frag) {
			t.Errorf("weak-auth detail lacks %q: %s", frag, issues[2].Detail)
		}
	}
	if issues[3].Catalog != "K" {
		t.Errorf("catalog = %q", issues[3].Catalog)
	}

	// The unmodified collector inventory is healthy apart from the relay.
	inv, _ = LoadInventoryFile(filepath.Join("testdata", "collector.json"))
	issues, _ = EvaluatePosture(inv)
	if len(issues) != 2 {
		t.Errorf("healthy inventory issues = %+v", issues)
	}
	if _, err := EvaluatePosture(nil); err == nil {
		t.Error("nil inventory: want error")
	}
}
