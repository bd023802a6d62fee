// Package exchangetest holds Exchange configurations for tests of every
// package that simulates selection (the agent's checks and diagnosis, the
// certificate rules, the pre-flight, the controller's fleet pre-flight).
package exchangetest

import (
	"crypto/x509"

	"github.com/mxprobe/mxprobe/internal/exchange"
)

// SeedConfig is the Edge server of the seed incident: a send connector
// "Outbound to Office 365" whose TlsCertificateName designates cert's issuer
// and subject, a receive connector using the same name, and the internal
// transport certificate set to internalThumbprint.
func SeedConfig(cert *x509.Certificate, internalThumbprint string) *exchange.Config {
	name := exchange.TLSCertificateNameFor(cert).String()
	return &exchange.Config{
		FormatVersion: exchange.FormatVersion,
		Collector:     "manual",
		Server:        exchange.Server{Name: "EDGE01", Fqdn: "edge01.contoso.com", AdminDisplayVersion: "Version 15.2 (Build 330.6)", ServerRole: "Edge"},
		TransportService: exchange.TransportService{
			Name: "EDGE01", InternalTransportCertificateThumbprint: internalThumbprint,
		},
		SendConnectors: []exchange.SendConnector{{
			Name: "Outbound to Office 365", Identity: "Outbound to Office 365", Enabled: true, TlsCertificateName: name,
			Fqdn: "mail.contoso.com", RequireTLS: true, TlsAuthLevel: exchange.TLSAuthDomainValidation,
			TlsDomain: "mail.protection.outlook.com", CloudServicesMailEnabled: true, DNSRoutingEnabled: true,
			SmartHosts:             []string{},
			AddressSpaces:          []exchange.AddressSpace{{Type: "SMTP", Address: "tenant.mail.onmicrosoft.com", Cost: 1}},
			SourceTransportServers: []string{"EDGE01"}, ProtocolLoggingLevel: exchange.ProtocolLoggingVerbose,
		}},
		ReceiveConnectors: []exchange.ReceiveConnector{{
			Name: "Default internal receive connector EDGE01", Server: "EDGE01", Enabled: true,
			Bindings: []string{"0.0.0.0:25", "[::]:25"}, TlsCertificateName: name, Fqdn: "mail.contoso.com",
			AuthMechanism: []string{"Tls", "ExchangeServer"}, TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"},
			ProtocolLoggingLevel: exchange.ProtocolLoggingNone, TransportRole: "HubTransport",
		}},
	}
}
