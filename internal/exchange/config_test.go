package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLoadRawCmdletJSON(t *testing.T) {
	inv, err := loadFile(t, filepath.Join("testdata", "cmdlet-raw.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := inv.Server
	if srv.Name != "EDGE01" || srv.Fqdn != "edge01.contoso.com" || srv.AdminDisplayVersion != "Version 15.2 (Build 1118.7)" ||
		srv.ServerRole != "Edge" || srv.Edition != "2" {
		t.Errorf("server = %+v", srv)
	}
	if srv.Role() != RoleEdge {
		t.Errorf("role = %q", srv.Role())
	}
	if v, ok := srv.Version(); !ok || v.Product() != "Exchange 2019" || v.Build != 1118 {
		t.Errorf("version = %+v %v", v, ok)
	}
	ts := inv.TransportService
	if ts.InternalTransportCertificateThumbprint != "5D1A7F30AABBCCDDEEFF00112233445566778899" {
		t.Errorf("thumbprint = %q", ts.InternalTransportCertificateThumbprint)
	}
	if !strings.HasSuffix(ts.SendProtocolLogPath, `Edge\ProtocolLog\SmtpSend`) || !strings.HasSuffix(ts.ReceiveProtocolLogPath, `SmtpReceive`) {
		t.Errorf("log paths = %+v", ts)
	}
	if len(inv.SendConnectors) != 1 {
		t.Fatalf("send connectors = %d (single object must become a list)", len(inv.SendConnectors))
	}
	sc := inv.SendConnectors[0]
	want := SendConnector{
		Name: "Outbound to Office 365", Identity: "Outbound to Office 365", Enabled: true,
		TlsCertificateName: seedTLSName, Fqdn: "mail.contoso.com", RequireTLS: true,
		TlsAuthLevel: TLSAuthDomainValidation, TlsDomain: "mail.protection.outlook.com",
		CloudServicesMailEnabled: true, SmartHosts: []string{"contoso-com.mail.protection.outlook.com"},
		AddressSpaces:          []AddressSpace{{Type: "SMTP", Address: "contoso.mail.onmicrosoft.com", Cost: 1}},
		SourceTransportServers: []string{"EDGE01", "EDGE02"}, ProtocolLoggingLevel: ProtocolLoggingVerbose,
	}
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("send connector =\n%+v\nwant\n%+v", sc, want)
	}
	rc := inv.ReceiveConnectors[0]
	wantR := ReceiveConnector{
		Name: "Default internal receive connector EDGE01", Identity: `EDGE01\Default internal receive connector EDGE01`,
		Server: "EDGE01", Enabled: true, Bindings: []string{"0.0.0.0:25", "[::]:25"}, Fqdn: "edge01.contoso.com",
		AuthMechanism:         []string{"Tls", "ExchangeServer"},
		TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"},
		ProtocolLoggingLevel:  ProtocolLoggingNone, TransportRole: "HubTransport",
	}
	if !reflect.DeepEqual(rc, wantR) {
		t.Errorf("receive connector =\n%+v\nwant\n%+v", rc, wantR)
	}
	if got := rc.Ports(); !reflect.DeepEqual(got, []int{25}) {
		t.Errorf("ports = %v", got)
	}
	if got := inv.ProtocolLogPaths(); len(got) != 2 || got[0].Direction != "Send" {
		t.Errorf("ProtocolLogPaths = %+v", got)
	}
}

func TestLoadCollectorJSONAndRoundTrip(t *testing.T) {
	inv, err := loadFile(t, filepath.Join("testdata", "collector.json"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Role() != RoleMailbox {
		t.Errorf("role = %q", inv.Server.Role())
	}
	if want := time.Date(2025, 5, 2, 6, 40, 0, 123456700, time.UTC); !inv.CollectedAt.Equal(want) {
		t.Errorf("CollectedAt = %v", inv.CollectedAt)
	}
	if got := inv.SendConnectors[1]; got.TlsAuthLevel != "" || got.AddressSpaces[0] != (AddressSpace{"SMTP", "*", 1}) {
		t.Errorf("Internet connector = %+v", got)
	}
	if got := inv.ReceiveConnectors[0].AuthMechanism; len(got) != 5 || got[0] != "Tls" {
		t.Errorf("AuthMechanism = %v", got)
	}
	if got := inv.ReceiveConnectors[2].AuthMechanism; !reflect.DeepEqual(got, []string{AuthMechanismNone}) {
		t.Errorf("AuthMechanism None = %v", got)
	}
	if got := len(inv.ProtocolLogPaths()); got != 6 {
		t.Errorf("%d protocol log paths", got)
	}

	for _, file := range []string{"collector.json", "cmdlet-raw.json"} {
		in, err := loadFile(t, filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteConfig(&buf, in); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "<I>") {
			t.Errorf("%s: TlsCertificateName HTML-escaped in output", file)
		}
		back, err := LoadConfig(&buf)
		if err != nil {
			t.Fatalf("%s: reload: %v\n%s", file, err, buf.String())
		}
		normalizeEmpty(in)
		normalizeEmpty(back)
		if !reflect.DeepEqual(in, back) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", file, in, back)
		}
	}
}

// normalizeEmpty maps empty slices to nil so that a [] read back compares
// equal to an absent list.
func normalizeEmpty(inv *Config) {
	for i := range inv.SendConnectors {
		c := &inv.SendConnectors[i]
		if len(c.SmartHosts) == 0 {
			c.SmartHosts = nil
		}
		if len(c.SourceTransportServers) == 0 {
			c.SourceTransportServers = nil
		}
		if len(c.AddressSpaces) == 0 {
			c.AddressSpaces = nil
		}
	}
	for i := range inv.ReceiveConnectors {
		c := &inv.ReceiveConnectors[i]
		if len(c.Bindings) == 0 {
			c.Bindings = nil
		}
		if len(c.TlsDomainCapabilities) == 0 {
			c.TlsDomainCapabilities = nil
		}
	}
}

func TestLoadConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		doc       string
		wantField string
		wantErr   error
	}{
		{`{"SendConnectors":[{"Name":"a","RequireTLS":"yes"}]}`, "SendConnectors[0].RequireTLS", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a"},{"Name":"b","Enabled":{}}]}`, "SendConnectors[1].Enabled", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","TlsAuthLevel":3}]}`, "SendConnectors[0].TlsAuthLevel", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","TlsAuthLevel":"Strong"}]}`, "SendConnectors[0].TlsAuthLevel", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","TlsAuthLevel":true}]}`, "SendConnectors[0].TlsAuthLevel", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","AddressSpaces":["SMTP:*;x"]}]}`, "SendConnectors[0].AddressSpaces[0]", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","AddressSpaces":[{"Cost":1}]}]}`, "SendConnectors[0].AddressSpaces[0]", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","SmartHosts":[12]}]}`, "SendConnectors[0].SmartHosts[0]", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","TlsCertificateName":42}]}`, "SendConnectors[0].TlsCertificateName", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":"a","TlsCertificateName":{"CertificateIssuer":7}}]}`, "SendConnectors[0].TlsCertificateName.CertificateIssuer", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":""}]}`, "SendConnectors[0].Name", ErrInvalidConfig},
		{`{"SendConnectors":[{"Name":5}]}`, "SendConnectors[0].Name", ErrInvalidConfig},
		{`{"SendConnectors":"Outbound"}`, "SendConnectors", ErrInvalidConfig},
		{`{"ReceiveConnectors":[{"Name":"r","Bindings":["0.0.0.0"]}]}`, "ReceiveConnectors[0].Bindings[0]", ErrInvalidConfig},
		{`{"ReceiveConnectors":[{"Name":"r","Bindings":[{"Address":"0.0.0.0"}]}]}`, "ReceiveConnectors[0].Bindings[0]", ErrInvalidConfig},
		{`{"ReceiveConnectors":[{"Name":"r","AuthMechanism":{"x":1}}]}`, "ReceiveConnectors[0].AuthMechanism", ErrInvalidConfig},
		{`{"ReceiveConnectors":[{"Name":"r","Fqdn":[]}]}`, "ReceiveConnectors[0].Fqdn", ErrInvalidConfig},
		{`{"ReceiveConnectors":[{"Name":"r","ProtocolLoggingLevel":7}]}`, "ReceiveConnectors[0].ProtocolLoggingLevel", ErrInvalidConfig},
		{`{"ExchangeServer":{"AdminDisplayVersion":"fifteen"}}`, "ExchangeServer.AdminDisplayVersion", ErrInvalidConfig},
		{`{"ExchangeServer":"EX01"}`, "ExchangeServer", ErrInvalidConfig},
		{`{"TransportService":{"InternalTransportCertificateThumbprint":"xyz"}}`, "TransportService.InternalTransportCertificateThumbprint", ErrInvalidConfig},
		{`{"TransportService":{"SendProtocolLogPath":5}}`, "TransportService.SendProtocolLogPath", ErrInvalidConfig},
		{`{"CollectedAt":"yesterday"}`, "CollectedAt", ErrInvalidConfig},
		{`{"FormatVersion":2}`, "FormatVersion", ErrUnsupportedFormat},
		{`{"FormatVersion":"one"}`, "FormatVersion", ErrInvalidConfig},
		{`[]`, "top level", ErrInvalidConfig},
		{`{"SendConnectors":[`, "not valid JSON", ErrInvalidConfig},
		{``, "not valid JSON", ErrInvalidConfig},
		{`{"CollectorError":"no Exchange Management Shell snap-in"}`, "snap-in", ErrCollectorFailed},
	}
	for _, tt := range tests {
		_, err := LoadConfig(strings.NewReader(tt.doc))
		if err == nil {
			t.Errorf("%s: want error", tt.doc)
			continue
		}
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error %v does not wrap %v", tt.doc, err, tt.wantErr)
		}
		if !strings.Contains(err.Error(), tt.wantField) {
			t.Errorf("%s: error %q does not name %q", tt.doc, err, tt.wantField)
		}
	}
}

func TestLoadConfigTolerance(t *testing.T) {
	doc := `{
	  "Surprise": {"a": [1, 2]},
	  "ExchangeServer": {"Name": "EX01", "Fqdn": "ex01.contoso.local", "ServerRole": 16386, "AdminDisplayVersion": "15.2.1544.4"},
	  "SendConnectors": [null, {"name": "lower-case keys", "ENABLED": "False", "tlsauthlevel": "domainvalidation",
	    "AddressSpaces": "*.contoso.com", "SmartHosts": ["[10.0.0.1]", {"Address": {"IPAddressToString": "10.0.0.2"}}]}],
	  "ReceiveConnectors": {"value": [{"Name": "r", "AuthMechanism": ["Tls", "integrated"], "TransportRole": "FrontendTransport",
	    "Bindings": "0.0.0.0:2525"}], "Count": 1}
	}`
	inv, err := LoadConfig(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.ServerRole != "Mailbox, FrontendTransport" || inv.Server.Role() != RoleMailbox {
		t.Errorf("role = %q", inv.Server.ServerRole)
	}
	if inv.Server.AdminDisplayVersion != "Version 15.2 (Build 1544.4)" {
		t.Errorf("version = %q", inv.Server.AdminDisplayVersion)
	}
	if len(inv.SendConnectors) != 1 {
		t.Fatalf("send connectors = %+v", inv.SendConnectors)
	}
	sc := inv.SendConnectors[0]
	if sc.Name != "lower-case keys" || sc.Enabled || sc.TlsAuthLevel != TLSAuthDomainValidation ||
		!reflect.DeepEqual(sc.SmartHosts, []string{"10.0.0.1", "10.0.0.2"}) ||
		!reflect.DeepEqual(sc.AddressSpaces, []AddressSpace{{"SMTP", "*.contoso.com", 1}}) {
		t.Errorf("send connector = %+v", sc)
	}
	rc := inv.ReceiveConnectors[0]
	if !reflect.DeepEqual(rc.AuthMechanism, []string{"Tls", "Integrated"}) || !rc.Enabled || rc.Bindings[0] != "0.0.0.0:2525" {
		t.Errorf("receive connector = %+v", rc)
	}
}

// loadFile reads a JSON inventory fixture with LoadConfig.
func loadFile(t *testing.T, path string) (*Config, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return LoadConfig(f)
}

func TestWriteConfigNil(t *testing.T) {
	if err := WriteConfig(&bytes.Buffer{}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("err = %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"Version 15.2 (Build 1118.7)": {15, 2, 1118, 7},
		"Version 14.3 (Build 123.4)":  {14, 3, 123, 4},
		"15.1.2507.39":                {15, 1, 2507, 39},
		"15.0":                        {15, 0, 0, 0},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %+v, %v", in, got, err)
		}
	}
	if _, err := ParseVersion("Exchange 2019"); err == nil {
		t.Error("want error")
	}
}

func TestRoles(t *testing.T) {
	for in, want := range map[string]Role{
		"Edge": RoleEdge, "Mailbox": RoleMailbox, "Mailbox, ClientAccess": RoleMailbox,
		"HubTransport": RoleHubTransport, "ClientAccess, HubTransport": RoleHubTransport, "": RoleUnknown,
	} {
		if got := (Server{ServerRole: in}).Role(); got != want {
			t.Errorf("Role(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Server{ServerRole: "Mailbox", AdminDisplayVersion: "Version 14.3 (Build 123.4)"}).Role(); got != RoleUnknown {
		t.Errorf("2010 Mailbox-only role = %q", got)
	}
}

func FuzzLoadConfig(f *testing.F) {
	for _, file := range []string{"collector.json", "cmdlet-raw.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"SendConnectors":{"value":[1],"Count":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := LoadConfig(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteConfig(&buf, inv); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(&buf); err != nil {
			t.Fatalf("written inventory does not reload: %v\n%s", err, buf.String())
		}
		_, _ = SimulateSelection(inv, nil, SelectOptions{})
		_, _ = EvaluatePosture(inv)
	})
}

// The example in the format documentation must load and mean what it says.
func TestDocumentedExampleLoads(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "exchange-inventory.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no json example in docs/exchange-inventory.md")
	}
	inv, err := LoadConfig(strings.NewReader(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Role() != RoleEdge || len(inv.SendConnectors) != 1 || inv.SendConnectors[0].TlsCertificateName != seedTLSName {
		t.Errorf("example = %+v", inv)
	}
}
