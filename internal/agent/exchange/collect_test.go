package exchange

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestCollectorScriptSelectsDocumentedProperties(t *testing.T) {
	script := CollectorScript()
	vars := map[string]string{
		"Get-ExchangeServer":   "$srv",
		"Get-TransportService": "$ts",
		"Get-SendConnector":    "$c",
		"Get-ReceiveConnector": "$c",
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "exchange-inventory.md"))
	if err != nil {
		t.Fatalf("format documentation: %v", err)
	}
	for cmdlet, props := range CollectorProperties {
		if !strings.Contains(script, cmdlet) {
			t.Errorf("script does not call %s", cmdlet)
		}
		for _, p := range props {
			// Each property is read from the cmdlet object and written under its own name.
			if !strings.Contains(script, vars[cmdlet]+"."+p) {
				t.Errorf("script does not read %s.%s", cmdlet, p)
			}
			if !regexp.MustCompile(`(?m)^\s+` + p + ` = `).MatchString(script) {
				t.Errorf("script does not emit %s", p)
			}
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("docs/exchange-inventory.md does not document %s (%s)", p, cmdlet)
			}
		}
	}
	for _, frag := range []string{
		"Add-PSSnapin", "Microsoft.Exchange.Management.PowerShell.SnapIn", "Microsoft.Exchange.Management.PowerShell.E2010",
		"Get-ReceiveConnector -Server $me", "Get-ExchangeServer -Identity $me", "Get-TransportServer",
		"ConvertTo-Json -Depth 4", "CollectorError", collectorBegin, collectorEnd,
	} {
		if !strings.Contains(script, frag) {
			t.Errorf("script lacks %q", frag)
		}
	}
	// Balanced braces and parentheses: a cheap syntax sanity check.
	for _, pair := range [][2]string{{"{", "}"}, {"(", ")"}, {"[", "]"}} {
		if strings.Count(script, pair[0]) != strings.Count(script, pair[1]) {
			t.Errorf("unbalanced %s%s in script", pair[0], pair[1])
		}
	}
	// Only ASCII, so code pages never matter.
	for i, r := range script {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("non-ASCII or control character %U at %d", r, i)
		}
	}
}

func TestEncodeCommand(t *testing.T) {
	enc := EncodeCommand(CollectorScript())
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	if string(utf16.Decode(u)) != CollectorScript() {
		t.Error("EncodeCommand does not round-trip")
	}
	// CreateProcess limits the command line to 32767 characters.
	total := len(DefaultPowerShell)
	for _, a := range PowerShellArgs() {
		total += len(a) + 3
	}
	if total > 32000 {
		t.Errorf("command line is %d characters; the script is too long for -EncodedCommand", total)
	}
}

func payload(json string) string {
	return "WARNING: The names of some imported commands include unapproved verbs.\r\n" +
		collectorBegin + "\r\n" + base64.StdEncoding.EncodeToString([]byte(json)) + "\r\n" + collectorEnd + "\r\n"
}

func TestParseCollectorOutput(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "collector.json"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseCollectorOutput([]byte(payload(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Name != "EX01" || len(inv.ReceiveConnectors) != 3 || inv.Collector != "mxprobe-powershell" {
		t.Errorf("inventory = %+v", inv.Server)
	}

	tests := []struct {
		out  string
		want error
		frag string
	}{
		{payload(`{"CollectorError":"The term 'Get-SendConnector' is not recognized"}`), ErrCollectorFailed, "not recognized"},
		{"no markers at all", ErrCollectorFailed, "no inventory"},
		{collectorBegin + "\nAAAA", ErrCollectorFailed, "truncated"},
		{collectorBegin + "\n!!!\n" + collectorEnd, ErrCollectorFailed, "base64"},
		{payload(`{"SendConnectors":[{"Name":1}]}`), ErrInvalidInventory, "SendConnectors[0].Name"},
	}
	for _, tt := range tests {
		_, err := ParseCollectorOutput([]byte(tt.out))
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.frag) {
			t.Errorf("%.40q: err = %v, want %v containing %q", tt.out, err, tt.want, tt.frag)
		}
	}
}

func TestCollectOptionsDefaults(t *testing.T) {
	o := CollectOptions{}.withDefaults()
	if o.PowerShell != DefaultPowerShell || o.Timeout != DefaultCollectTimeout || o.MaxOutputBytes != DefaultMaxOutputBytes {
		t.Errorf("defaults = %+v", o)
	}
}

// The example in the format documentation must load and mean what it says.
func TestDocumentedExampleLoads(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "exchange-inventory.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no json example in docs/exchange-inventory.md")
	}
	inv, err := LoadInventory(strings.NewReader(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Role() != RoleEdge || len(inv.SendConnectors) != 1 || inv.SendConnectors[0].TlsCertificateName != seedTLSName {
		t.Errorf("example = %+v", inv)
	}
}
