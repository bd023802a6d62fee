package exchange

import (
	"fmt"
	"sort"
	"strings"
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

// PostureCondition is a connector setting that breaks or weakens TLS with
// Exchange Online.
type PostureCondition string

// Posture conditions.
const (
	// PostureNoTLSCertName: a receive connector Exchange Online reaches has
	// no TlsCertificateName, so it presents whatever matches its FQDN,
	// possibly the self-signed certificate (catalog E).
	PostureNoTLSCertName PostureCondition = "no-tls-certificate-name"
	// PostureWeakTLSAuth: a send connector to Exchange Online does not
	// require TLS or validates less than the certificate.
	PostureWeakTLSAuth PostureCondition = "weak-tls-auth"
	// PostureNoTLSAuthMechanism: a receive connector's AuthMechanism lacks
	// Tls, so its EHLO reply never offers STARTTLS (catalog K).
	PostureNoTLSAuthMechanism PostureCondition = "no-tls-auth-mechanism"
)

// Weakness is one reason a send connector's TLS settings are weaker than
// hybrid needs.
type Weakness string

// Weaknesses of PostureWeakTLSAuth.
const (
	WeakRequireTLSOff     Weakness = "require-tls-off"      // RequireTLS is false
	WeakTLSAuthLevelUnset Weakness = "tls-auth-level-unset" // TlsAuthLevel not set
	WeakTLSAuthLevelLow   Weakness = "tls-auth-level-low"   // EncryptionOnly (PostureIssue.TLSAuthLevel)
)

// PostureIssue is one connector setting that breaks or weakens TLS with
// Exchange Online, as data.
type PostureIssue struct {
	Condition PostureCondition `json:"condition"`
	Connector string           `json:"connector"`
	Kind      ConnectorKind    `json:"kind"`
	// Certain is false when the issue depends on an inferred fact (for
	// example ReachLikely).
	Certain bool `json:"certain"`
	// Reach and ReachReason: how Exchange Online reaches a receive
	// connector (PostureNoTLSCertName).
	Reach       Reachability `json:"reach,omitempty"`
	ReachReason string       `json:"reachReason,omitempty"`
	// TargetReason: why a send connector delivers to Exchange Online
	// (PostureWeakTLSAuth).
	TargetReason string     `json:"targetReason,omitempty"`
	Weaknesses   []Weakness `json:"weaknesses,omitempty"`
	TLSAuthLevel string     `json:"tlsAuthLevel,omitempty"`
	// AuthMechanism as configured (PostureNoTLSAuthMechanism).
	AuthMechanism []string `json:"authMechanism,omitempty"`
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
// TlsCertificateName, send connectors to Exchange Online that do not require
// TLS or validate less than the certificate, and receive connectors whose
// AuthMechanism lacks Tls. Sorted by condition, kind, connector name.
func EvaluatePosture(cfg *Config) ([]PostureIssue, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil configuration", ErrInvalidConfig)
	}
	var out []PostureIssue
	role := cfg.Server.Role()
	for _, c := range cfg.ReceiveConnectors {
		if !c.Enabled || (c.Server != "" && !isLocalServer(cfg.Server, []string{c.Server})) {
			continue
		}
		if reach, why := c.ExchangeOnlineReachability(role); reach != ReachNo && strings.TrimSpace(c.TlsCertificateName) == "" {
			out = append(out, PostureIssue{Condition: PostureNoTLSCertName, Connector: c.Name, Kind: KindReceive,
				Certain: reach == ReachExplicit, Reach: reach, ReachReason: why})
		}
		if len(c.AuthMechanism) > 0 && !c.HasAuthMechanism("Tls") {
			out = append(out, PostureIssue{Condition: PostureNoTLSAuthMechanism, Connector: c.Name, Kind: KindReceive,
				Certain: true, AuthMechanism: append([]string(nil), c.AuthMechanism...)})
		}
	}
	for _, c := range cfg.SendConnectors {
		if !c.Enabled || !isLocalServer(cfg.Server, c.SourceTransportServers) {
			continue
		}
		exo, why := c.TargetsExchangeOnline()
		if !exo {
			continue
		}
		var weak []Weakness
		if !c.RequireTLS {
			weak = append(weak, WeakRequireTLSOff)
		}
		switch c.TlsAuthLevel {
		case TLSAuthCertificateValidation, TLSAuthDomainValidation:
		case TLSAuthNone:
			weak = append(weak, WeakTLSAuthLevelUnset)
		default:
			weak = append(weak, WeakTLSAuthLevelLow)
		}
		if len(weak) > 0 {
			out = append(out, PostureIssue{Condition: PostureWeakTLSAuth, Connector: c.Name, Kind: KindSend, Certain: true,
				TargetReason: why, Weaknesses: weak, TLSAuthLevel: c.TlsAuthLevel})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Condition != b.Condition {
			return a.Condition < b.Condition
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return strings.ToLower(a.Connector) < strings.ToLower(b.Connector)
	})
	return out, nil
}
