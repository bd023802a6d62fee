package exchange

import (
	"fmt"
	"sort"
	"strings"
)

// Finding codes (docs/findings.md) that connector posture checks produce.
const (
	CodeConnectorNoTLSCertName = "CONNECTOR_NO_TLS_CERT_NAME"
	CodeConnectorWeakTLSAuth   = "CONNECTOR_WEAK_TLS_AUTH"
	// CodeStartTLSNotOffered: catalog K predicted from configuration (a
	// receive connector whose AuthMechanism lacks Tls never offers STARTTLS).
	CodeStartTLSNotOffered = "SMTP_STARTTLS_NOT_OFFERED"
)

// Exchange Online endpoints as they appear in connector settings.
const (
	exoProtectionDomain = "mail.protection.outlook.com" // smart hosts, TlsDomain, receive TlsDomainCapabilities
	exoRoutingDomain    = "mail.onmicrosoft.com"        // hybrid address space <tenant>.mail.onmicrosoft.com
)

// Reachability says whether Exchange Online delivers to a receive connector.
type Reachability string

// Reachability levels.
const (
	// ReachNo: nothing suggests Exchange Online connects to this connector.
	ReachNo Reachability = "no"
	// ReachLikely: an internet-facing SMTP connector (port 25 on Edge, or the
	// FrontendTransport role on Mailbox): Exchange Online connects to it when
	// the MX or the hybrid outbound connector points at this server.
	ReachLikely Reachability = "likely"
	// ReachExplicit: TlsDomainCapabilities grants mail.protection.outlook.com
	// capabilities (set by the Hybrid Configuration Wizard).
	ReachExplicit Reachability = "explicit"
)

// PostureIssue is one connector setting that breaks or weakens TLS with
// Exchange Online.
type PostureIssue struct {
	Code      string        `json:"code"`
	Catalog   string        `json:"catalog,omitempty"` // failure catalog row (A-K)
	Connector string        `json:"connector"`
	Kind      ConnectorKind `json:"kind"`
	// Certain is false when the issue depends on an inferred fact (for
	// example ReachLikely).
	Certain bool   `json:"certain"`
	Detail  string `json:"detail"`
}

// TargetsExchangeOnline reports whether a send connector delivers to Exchange
// Online, and why: CloudServicesMailEnabled, an address space or smart host in
// *.mail.protection.outlook.com / *.mail.onmicrosoft.com, or TlsDomain
// mail.protection.outlook.com.
func (c SendConnector) TargetsExchangeOnline() (bool, string) {
	if c.CloudServicesMailEnabled {
		return true, "CloudServicesMailEnabled is true"
	}
	for _, a := range c.AddressSpaces {
		if !strings.EqualFold(a.Type, "SMTP") {
			continue
		}
		if isEXOHost(a.Address) {
			return true, fmt.Sprintf("address space %s", a.String())
		}
	}
	for _, h := range c.SmartHosts {
		if isEXOHost(h) {
			return true, fmt.Sprintf("smart host %s", h)
		}
	}
	if isEXOHost(c.TlsDomain) {
		return true, fmt.Sprintf("TlsDomain %s", c.TlsDomain)
	}
	return false, ""
}

func isEXOHost(h string) bool {
	h = strings.TrimPrefix(normalizeHost(h), "*.")
	for _, d := range []string{exoProtectionDomain, exoRoutingDomain} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// ExchangeOnlineReachability estimates whether Exchange Online connects to r
// on a server of the given role.
func (r ReceiveConnector) ExchangeOnlineReachability(role Role) (Reachability, string) {
	for _, d := range r.TlsDomainCapabilities {
		ld := strings.ToLower(d)
		if strings.Contains(ld, exoProtectionDomain) || strings.Contains(ld, "acceptcloudservicesmail") {
			return ReachExplicit, fmt.Sprintf("TlsDomainCapabilities %q", d)
		}
	}
	has25 := false
	for _, p := range r.Ports() {
		if p == 25 {
			has25 = true
		}
	}
	if !has25 {
		return ReachNo, ""
	}
	switch {
	case role == RoleEdge:
		return ReachLikely, "listens on port 25 on an Edge server"
	case strings.Contains(strings.ToLower(r.TransportRole), "frontendtransport"):
		return ReachLikely, "listens on port 25 in the Front End Transport service"
	case role == RoleHubTransport:
		return ReachLikely, "listens on port 25 on an Exchange 2010 Hub Transport server"
	}
	return ReachNo, ""
}

// EvaluatePosture checks the TLS-relevant settings of the enabled connectors
// this server runs: receive connectors Exchange Online reaches without
// TlsCertificateName (CONNECTOR_NO_TLS_CERT_NAME, catalog E), send connectors
// to Exchange Online that do not require TLS or validate less than the
// certificate (CONNECTOR_WEAK_TLS_AUTH), and receive connectors whose
// AuthMechanism lacks Tls (SMTP_STARTTLS_NOT_OFFERED, catalog K). Sorted by
// code, kind, connector name.
func EvaluatePosture(inv *Inventory) ([]PostureIssue, error) {
	if inv == nil {
		return nil, fmt.Errorf("%w: nil inventory", ErrInvalidInventory)
	}
	var out []PostureIssue
	role := inv.Server.Role()
	for _, c := range inv.ReceiveConnectors {
		if !c.Enabled || (c.Server != "" && !isLocalServer(inv.Server, []string{c.Server})) {
			continue
		}
		if reach, why := c.ExchangeOnlineReachability(role); reach != ReachNo && strings.TrimSpace(c.TlsCertificateName) == "" {
			out = append(out, PostureIssue{
				Code: CodeConnectorNoTLSCertName, Catalog: "E", Connector: c.Name, Kind: KindReceive,
				Certain: reach == ReachExplicit,
				Detail: fmt.Sprintf("Receive connector %q is reached by Exchange Online (%s, %s) but has no TlsCertificateName: it presents whatever certificate matches its FQDN, possibly the self-signed one (450 4.7.320 SubjectMismatch).",
					c.Name, reach, why),
			})
		}
		if len(c.AuthMechanism) > 0 && !c.HasAuthMechanism("Tls") {
			out = append(out, PostureIssue{
				Code: CodeStartTLSNotOffered, Catalog: "K", Connector: c.Name, Kind: KindReceive, Certain: true,
				Detail: fmt.Sprintf("Receive connector %q has AuthMechanism %q without Tls: its EHLO reply never offers STARTTLS.",
					c.Name, strings.Join(c.AuthMechanism, ", ")),
			})
		}
	}
	for _, c := range inv.SendConnectors {
		if !c.Enabled || !isLocalServer(inv.Server, c.SourceTransportServers) {
			continue
		}
		exo, why := c.TargetsExchangeOnline()
		if !exo {
			continue
		}
		var weak []string
		if !c.RequireTLS {
			weak = append(weak, "RequireTLS is false")
		}
		switch c.TlsAuthLevel {
		case TLSAuthCertificateValidation, TLSAuthDomainValidation:
		case TLSAuthNone:
			weak = append(weak, "TlsAuthLevel is not set")
		default:
			weak = append(weak, "TlsAuthLevel is "+c.TlsAuthLevel)
		}
		if len(weak) > 0 {
			out = append(out, PostureIssue{
				Code: CodeConnectorWeakTLSAuth, Connector: c.Name, Kind: KindSend, Certain: true,
				Detail: fmt.Sprintf("Send connector %q delivers to Exchange Online (%s) but %s; hybrid needs RequireTLS $true and TlsAuthLevel DomainValidation with TlsDomain mail.protection.outlook.com.",
					c.Name, why, strings.Join(weak, " and ")),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return strings.ToLower(a.Connector) < strings.ToLower(b.Connector)
	})
	return out, nil
}
