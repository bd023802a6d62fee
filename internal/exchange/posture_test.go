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
	inv, err := loadFile(t, filepath.Join("testdata", "collector.json"))
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
		got = append(got, string(is.Condition)+"/"+is.Connector)
	}
	want := []string{
		"no-tls-auth-mechanism/App relay",
		"no-tls-certificate-name/App relay",
		"no-tls-certificate-name/Default Frontend EX01",
		"weak-tls-auth/Outbound to Office 365 - 3f7c",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("issues = %v\nwant %v", got, want)
	}
	if !issues[2].Certain || issues[1].Certain {
		t.Errorf("certainty: explicit %v, inferred %v", issues[2].Certain, issues[1].Certain)
	}
	if w := issues[3]; !reflect.DeepEqual(w.Weaknesses, []Weakness{WeakRequireTLSOff, WeakTLSAuthLevelLow}) || w.TLSAuthLevel != TLSAuthEncryptionOnly ||
		!strings.Contains(w.TargetReason, "CloudServicesMailEnabled") {
		t.Errorf("weak-auth issue = %+v", w)
	}
	if a := issues[0]; !reflect.DeepEqual(a.AuthMechanism, []string{AuthMechanismNone}) {
		t.Errorf("auth mechanism issue = %+v", a)
	}

	// The unmodified collector inventory is healthy apart from the relay.
	inv, _ = loadFile(t, filepath.Join("testdata", "collector.json"))
	issues, _ = EvaluatePosture(inv)
	if len(issues) != 2 {
		t.Errorf("healthy inventory issues = %+v", issues)
	}
	if _, err := EvaluatePosture(nil); err == nil {
		t.Error("nil inventory: want error")
	}
}
