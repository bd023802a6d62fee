package exchcollect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// LoadInboundConnectorsFile reads Exchange Online's inbound connectors
// exported on their own (Get-InboundConnector | Export-Clixml in Exchange
// Online PowerShell): a file or a directory of them. It is how a
// collected inventory (which the on-premises server cannot fill from
// Exchange Online) gets them. An export of no object at all (a tenant
// without inbound connectors) is an empty, non-nil list; documents holding
// only other objects are refused, naming what they hold.
func LoadInboundConnectorsFile(path string) ([]exchange.InboundConnector, error) {
	docs, _, err := readInventoryFiles(path)
	if err != nil {
		return nil, err
	}
	inbound := []any{}
	var other []string
	for i, d := range docs {
		vs, err := clixml.DecodeBytes(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: document %d: %w", exchange.ErrInvalidConfig, path, i+1, err)
		}
		for _, v := range clixml.Records(vs) {
			if recordKind(v) == "inbound" {
				inbound = append(inbound, v.JSON())
				continue
			}
			name := "an object without type"
			if len(v.Types) > 0 {
				name = v.Types[0]
			}
			if !slices.Contains(other, name) && len(other) < 8 {
				other = append(other, name)
			}
		}
	}
	if len(inbound) == 0 && len(other) > 0 {
		return nil, fmt.Errorf("%w: %s: no Get-InboundConnector object (found %s)", exchange.ErrInvalidConfig, path, strings.Join(other, ", "))
	}
	data, err := json.Marshal(map[string]any{"Collector": "Export-Clixml", "SendConnectors": []any{}, "ReceiveConnectors": []any{}, "InboundConnectors": inbound})
	if err != nil {
		return nil, fmt.Errorf("exchange: inbound connectors: %w", err)
	}
	cfg, err := exchange.LoadConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.InboundConnectors == nil {
		return []exchange.InboundConnector{}, nil
	}
	return cfg.InboundConnectors, nil
}
