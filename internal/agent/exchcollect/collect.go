package exchcollect

import (
	"bytes"
	"context"
	_ "embed" // the collector script
	"errors"
	"fmt"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// collectorBody is run by package powershell after its prelude (which gives
// it MxEmit, MxFail and MxUseExchange).
//
//go:embed collect.ps1
var collectorBody string

// CollectorProperties lists, per cmdlet, the properties the collector script
// selects. It is the contract between the script and docs/exchange-inventory.md.
var CollectorProperties = map[string][]string{
	"Get-ExchangeServer": {"Name", "Fqdn", "AdminDisplayVersion", "ServerRole", "Edition", "IsEdgeServer"},
	"Get-TransportService": {"Name", "InternalTransportCertificateThumbprint",
		"SendProtocolLogPath", "ReceiveProtocolLogPath"},
	"Get-SendConnector": {"Name", "Identity", "Enabled", "TlsCertificateName", "Fqdn", "RequireTLS",
		"TlsAuthLevel", "TlsDomain", "CloudServicesMailEnabled", "DNSRoutingEnabled", "SmartHosts",
		"AddressSpaces", "SourceTransportServers", "ProtocolLoggingLevel"},
	"Get-ReceiveConnector": {"Name", "Identity", "Server", "Enabled", "Bindings", "TlsCertificateName",
		"Fqdn", "AuthMechanism", "TlsDomainCapabilities", "RequireTLS", "ProtocolLoggingLevel", "TransportRole"},
}

// CollectorScript returns the complete PowerShell collector (prelude and body).
func CollectorScript() string { return powershell.Script(collectorBody) }

// Collect runs the collector on the local Exchange server (Windows only;
// elsewhere the error wraps powershell.ErrUnsupported) and returns its
// configuration. Errors wrap powershell.ErrCollectorFailed,
// powershell.ErrOutputTooLarge or ErrInvalidConfig.
func Collect(ctx context.Context, opts powershell.Options) (*exchange.Config, error) {
	raw, err := powershell.Collect(ctx, opts, collectorBody)
	if errors.Is(err, powershell.ErrUnsupported) {
		return nil, fmt.Errorf("exchange: %w: export the configuration on the Exchange server and pass --exchange-inventory", err)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	return decodeCollected(raw)
}

// ParseCollectorOutput extracts the configuration from the collector's
// stdout (what Collect does with it).
func ParseCollectorOutput(stdout []byte) (*exchange.Config, error) {
	raw, err := powershell.ExtractPayload(stdout, exchange.MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	return decodeCollected(raw)
}

func decodeCollected(raw []byte) (*exchange.Config, error) {
	cfg, err := exchange.LoadConfig(bytes.NewReader(raw))
	if errors.Is(err, exchange.ErrCollectorFailed) {
		return nil, fmt.Errorf("collector output: %w: %w", powershell.ErrCollectorFailed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("collector output: %w", err)
	}
	if cfg.Collector == "" {
		cfg.Collector = "mxprobe-powershell"
	}
	return cfg, nil
}
