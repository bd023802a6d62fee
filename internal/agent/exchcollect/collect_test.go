package exchcollect

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/agent/powershell/pstest"
	"github.com/mxprobe/mxprobe/internal/exchange"
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
	pstest.CheckCollector(t, collectorBody,
		"Get-ReceiveConnector -Server $me", "Get-ExchangeServer -Identity $me", "Get-TransportServer", "ConvertTo-Json -Depth 4", "MxUseExchange 'Get-SendConnector'")
}

func payload(json string) string {
	return "WARNING: The names of some imported commands include unapproved verbs.\r\n" +
		powershell.PayloadBegin + "\r\n" + base64.StdEncoding.EncodeToString([]byte(json)) + "\r\n" + powershell.PayloadEnd + "\r\n"
}

func TestParseCollectorOutput(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "exchange", "testdata", "collector.json"))
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
		{payload(`{"CollectorError":"The term 'Get-SendConnector' is not recognized"}`), powershell.ErrCollectorFailed, "not recognized"},
		{"no markers at all", powershell.ErrCollectorFailed, "no payload"},
		{payload(`{"SendConnectors":[{"Name":1}]}`), exchange.ErrInvalidConfig, "SendConnectors[0].Name"},
	}
	for _, tt := range tests {
		_, err := ParseCollectorOutput([]byte(tt.out))
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.frag) {
			t.Errorf("%.40q: err = %v, want %v containing %q", tt.out, err, tt.want, tt.frag)
		}
	}
}
