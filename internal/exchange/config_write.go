package exchange

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteConfig writes inv in the canonical, indented JSON form, which
// LoadConfig reads back unchanged. Slices are written as [] (never null).
func WriteConfig(w io.Writer, inv *Config) error {
	if inv == nil {
		return fmt.Errorf("%w: nil inventory", ErrInvalidConfig)
	}
	out := *inv
	out.FormatVersion = FormatVersion
	out.SendConnectors = make([]SendConnector, len(inv.SendConnectors))
	for i, c := range inv.SendConnectors {
		c.SmartHosts = nonNil(c.SmartHosts)
		c.SourceTransportServers = nonNil(c.SourceTransportServers)
		if c.AddressSpaces == nil {
			c.AddressSpaces = []AddressSpace{}
		}
		out.SendConnectors[i] = c
	}
	out.ReceiveConnectors = make([]ReceiveConnector, len(inv.ReceiveConnectors))
	for i, c := range inv.ReceiveConnectors {
		c.Bindings = nonNil(c.Bindings)
		c.AuthMechanism = nonNil(c.AuthMechanism)
		c.TlsDomainCapabilities = nonNil(c.TlsDomainCapabilities)
		out.ReceiveConnectors[i] = c
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep <I>..<S>.. readable
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("exchange: write inventory: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
