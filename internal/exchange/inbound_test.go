package exchange

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Exchange Online's inbound connectors in the JSON inventory, as
// ConvertTo-Json writes them (the value as a string or an object), read and
// written back unchanged.
func TestInboundConnectorsJSON(t *testing.T) {
	doc := `{"ExchangeServer":{"Name":"EDGE01"},"SendConnectors":[],"ReceiveConnectors":[],
	  "InboundConnectors":[
	    {"Name":"Inbound from 2f1e0c55","Enabled":true,"ConnectorType":"OnPremises","TlsSenderCertificateName":"mail.contoso.com",
	     "RequireTls":true,"RestrictDomainsToCertificate":true,"SenderDomains":["smtp:*;1"]},
	    {"Identity":"Partner Fabrikam","Enabled":"False","ConnectorType":1,"TlsSenderCertificateName":{"CertificateName":"*.fabrikam.com"}},
	    null]}`
	cfg, err := LoadConfig(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []InboundConnector{
		{Name: "Inbound from 2f1e0c55", Enabled: true, ConnectorType: "OnPremises", TlsSenderCertificateName: "mail.contoso.com", RequireTls: true, RestrictDomainsToCertificate: true, SenderDomains: []string{"smtp:*;1"}},
		{Name: "Partner Fabrikam", Enabled: false, TlsSenderCertificateName: "*.fabrikam.com"},
	}
	if !reflect.DeepEqual(cfg.InboundConnectors, want) {
		t.Fatalf("inbound connectors\n got %+v\nwant %+v", cfg.InboundConnectors, want)
	}
	var buf bytes.Buffer
	if err := WriteConfig(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.InboundConnectors, want) {
		t.Fatalf("round trip %+v\n%s", back.InboundConnectors, buf.String())
	}
	// Absent stays nil (not read), present and empty is an empty list.
	for d, wantNil := range map[string]bool{`{"SendConnectors":[]}`: true, `{"InboundConnectors":[]}`: false} {
		c, err := LoadConfig(strings.NewReader(d))
		if err != nil || (c.InboundConnectors == nil) != wantNil {
			t.Errorf("%s: %v %#v", d, err, c.InboundConnectors)
		}
	}
	for _, bad := range []struct{ doc, field string }{
		{`{"InboundConnectors":[{"Name":"x","TlsSenderCertificateName":7}]}`, "InboundConnectors[0].TlsSenderCertificateName"},
		{`{"InboundConnectors":[{"Name":"x","TlsSenderCertificateName":{"Thumbprint":"AB"}}]}`, "InboundConnectors[0].TlsSenderCertificateName"},
		{`{"InboundConnectors":[{"Enabled":true}]}`, "InboundConnectors[0].Name"},
		{`{"InboundConnectors":"x"}`, "InboundConnectors"},
	} {
		_, err := LoadConfig(strings.NewReader(bad.doc))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming %s", bad.doc, err, bad.field)
		}
	}
}

func TestCoversSenderName(t *testing.T) {
	for _, tc := range []struct {
		value, name string
		want        bool
	}{
		{"mail.contoso.com", "mail.contoso.com", true},
		{"Mail.Contoso.com.", "mail.contoso.com", true},
		{"mail.contoso.com", "smtp.contoso.com", false},
		{"*.contoso.com", "mail.contoso.com", true},
		{"*.contoso.com", "edge.eu.contoso.com", true}, // every subdomain
		{"*.contoso.com", "*.contoso.com", true},
		{"*.contoso.com", "contoso.com", false},
		{"*.contoso.com", "mail.fabrikam.com", false},
		{"*.contoso.com", "evilcontoso.com", false},
		{"mail.contoso.com", "*.contoso.com", false}, // a wildcard SAN is not that host for the value
		{"", "mail.contoso.com", false},
		{"*.", "x.", false},
	} {
		if got := CoversSenderName(tc.value, tc.name); got != tc.want {
			t.Errorf("CoversSenderName(%q, %q) = %v, want %v", tc.value, tc.name, got, tc.want)
		}
	}
}
