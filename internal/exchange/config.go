package exchange

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the inventory document version this package writes and
// the highest it reads. Documents without FormatVersion are read as version 1.
const FormatVersion = 1

// MaxConfigBytes bounds what LoadConfig reads (a real document is a
// few hundred KiB at most).
const MaxConfigBytes = 64 << 20

// Role is the transport role of the Exchange server, derived from ServerRole.
type Role string

// Roles mxprobe distinguishes.
const (
	RoleUnknown      Role = ""
	RoleEdge         Role = "Edge"
	RoleMailbox      Role = "Mailbox"      // 2013+ Mailbox (includes front-end transport)
	RoleHubTransport Role = "HubTransport" // Exchange 2010 Hub Transport
)

// Config is the Exchange-side configuration of one server that matters for
// SMTP TLS: the server, its transport service settings and the connectors.
// The JSON form is documented in docs/exchange-inventory.md.
type Config struct {
	FormatVersion int `json:"FormatVersion"`
	// CollectedAt is when the collector ran (zero when unknown).
	CollectedAt time.Time `json:"CollectedAt,omitzero"`
	// Collector names what produced the document ("mxprobe-powershell", "manual").
	Collector string `json:"Collector,omitempty"`

	Server                   Server               `json:"ExchangeServer"`
	TransportService         TransportService     `json:"TransportService"`
	FrontendTransportService *ProtocolLogSettings `json:"FrontendTransportService,omitempty"`
	MailboxTransportService  *ProtocolLogSettings `json:"MailboxTransportService,omitempty"`
	SendConnectors           []SendConnector      `json:"SendConnectors"`
	ReceiveConnectors        []ReceiveConnector   `json:"ReceiveConnectors"`
	// InboundConnectors are Exchange Online's inbound connectors, when the
	// admin added a Get-InboundConnector export (inbound.go); nil when not.
	InboundConnectors []InboundConnector `json:"InboundConnectors,omitempty"`
}

// Server is what Get-ExchangeServer reports about the local server.
type Server struct {
	Name string `json:"Name"`
	Fqdn string `json:"Fqdn"`
	// AdminDisplayVersion as Exchange prints it: "Version 15.2 (Build 1118.7)".
	AdminDisplayVersion string `json:"AdminDisplayVersion,omitempty"`
	// ServerRole as Exchange prints it: "Mailbox", "Edge", "Mailbox, ClientAccess", "HubTransport".
	ServerRole string `json:"ServerRole,omitempty"`
	Edition    string `json:"Edition,omitempty"`
}

// Version is a parsed Exchange build number.
type Version struct {
	Major, Minor, Build, Revision int
}

// String prints the version as Exchange does: "Version 15.2 (Build 1118.7)".
func (v Version) String() string {
	return fmt.Sprintf("Version %d.%d (Build %d.%d)", v.Major, v.Minor, v.Build, v.Revision)
}

// Product names the Exchange release ("Exchange 2019"); "" when unknown.
func (v Version) Product() string {
	switch {
	case v.Major == 15 && v.Minor == 2:
		return "Exchange 2019"
	case v.Major == 15 && v.Minor == 1:
		return "Exchange 2016"
	case v.Major == 15 && v.Minor == 0:
		return "Exchange 2013"
	case v.Major == 14:
		return "Exchange 2010"
	}
	return ""
}

var versionRE = regexp.MustCompile(`(?i)^\s*(?:version\s+)?(\d+)\.(\d+)\s*(?:\(\s*build\s+(\d+)(?:\.(\d+))?\s*\)|\.(\d+)(?:\.(\d+))?)?\s*$`)

// ParseVersion accepts "Version 15.2 (Build 1118.7)" and "15.2.1118.7".
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%w: version %q: want \"Version 15.2 (Build 1118.7)\" or \"15.2.1118.7\"", ErrInvalidConfig, s)
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	v := Version{Major: atoi(m[1]), Minor: atoi(m[2])}
	if m[3] != "" {
		v.Build, v.Revision = atoi(m[3]), atoi(m[4])
	} else {
		v.Build, v.Revision = atoi(m[5]), atoi(m[6])
	}
	return v, nil
}

// Version parses AdminDisplayVersion; ok is false when absent or unparsable.
func (s Server) Version() (Version, bool) {
	v, err := ParseVersion(s.AdminDisplayVersion)
	return v, err == nil
}

// Role derives the transport role from ServerRole.
func (s Server) Role() Role {
	has := func(name string) bool {
		for _, p := range strings.Split(s.ServerRole, ",") {
			if strings.EqualFold(strings.TrimSpace(p), name) {
				return true
			}
		}
		return false
	}
	switch {
	case has("Edge"):
		return RoleEdge
	case has("Mailbox") && !has("HubTransport"):
		if v, ok := s.Version(); ok && v.Major == 14 {
			return RoleUnknown // a 2010 Mailbox-only server runs no transport
		}
		return RoleMailbox
	case has("HubTransport"):
		return RoleHubTransport
	}
	return RoleUnknown
}

// TransportService is what Get-TransportService (Get-TransportServer on
// Exchange 2010) reports. On Edge it is the only transport service.
type TransportService struct {
	Name string `json:"Name,omitempty"`
	// InternalTransportCertificateThumbprint: upper-case hex, no separators.
	InternalTransportCertificateThumbprint string `json:"InternalTransportCertificateThumbprint,omitempty"`
	SendProtocolLogPath                    string `json:"SendProtocolLogPath,omitempty"`
	ReceiveProtocolLogPath                 string `json:"ReceiveProtocolLogPath,omitempty"`
}

// ProtocolLogSettings is the log part of Get-FrontendTransportService or
// Get-MailboxTransportService (Mailbox role, 2013+).
type ProtocolLogSettings struct {
	Name                   string `json:"Name,omitempty"`
	SendProtocolLogPath    string `json:"SendProtocolLogPath,omitempty"`
	ReceiveProtocolLogPath string `json:"ReceiveProtocolLogPath,omitempty"`
}

// ProtocolLogPath is one SMTP protocol log directory.
type ProtocolLogPath struct {
	Service   string `json:"service"`   // "Transport", "FrontendTransport", "MailboxTransport"
	Direction string `json:"direction"` // "Send" or "Receive"
	Path      string `json:"path"`
}

// ProtocolLogPaths lists every known protocol log directory, in a fixed order.
func (inv *Config) ProtocolLogPaths() []ProtocolLogPath {
	var out []ProtocolLogPath
	add := func(svc, send, recv string) {
		if send != "" {
			out = append(out, ProtocolLogPath{Service: svc, Direction: "Send", Path: send})
		}
		if recv != "" {
			out = append(out, ProtocolLogPath{Service: svc, Direction: "Receive", Path: recv})
		}
	}
	add("Transport", inv.TransportService.SendProtocolLogPath, inv.TransportService.ReceiveProtocolLogPath)
	if f := inv.FrontendTransportService; f != nil {
		add("FrontendTransport", f.SendProtocolLogPath, f.ReceiveProtocolLogPath)
	}
	if m := inv.MailboxTransportService; m != nil {
		add("MailboxTransport", m.SendProtocolLogPath, m.ReceiveProtocolLogPath)
	}
	return out
}

// AddressSpace is one entry of a send connector's AddressSpaces.
type AddressSpace struct {
	Type    string `json:"Type"`    // "SMTP" for the connectors mxprobe cares about
	Address string `json:"Address"` // "*", "contoso.mail.onmicrosoft.com", "*.contoso.com"
	Cost    int    `json:"Cost"`
}

// String prints the entry as Exchange does: "SMTP:*;1".
func (a AddressSpace) String() string {
	return fmt.Sprintf("%s:%s;%d", a.Type, a.Address, a.Cost)
}

// SendConnector holds the Get-SendConnector properties that matter for TLS.
type SendConnector struct {
	Name     string `json:"Name"`
	Identity string `json:"Identity,omitempty"`
	Enabled  bool   `json:"Enabled"`
	// TlsCertificateName is "<I>issuer<S>subject" or "" when unset.
	TlsCertificateName       string         `json:"TlsCertificateName,omitempty"`
	Fqdn                     string         `json:"Fqdn,omitempty"`
	RequireTLS               bool           `json:"RequireTLS"`
	TlsAuthLevel             string         `json:"TlsAuthLevel,omitempty"` // one of the TLSAuth* constants
	TlsDomain                string         `json:"TlsDomain,omitempty"`
	CloudServicesMailEnabled bool           `json:"CloudServicesMailEnabled"`
	DNSRoutingEnabled        bool           `json:"DNSRoutingEnabled"`
	SmartHosts               []string       `json:"SmartHosts"`
	AddressSpaces            []AddressSpace `json:"AddressSpaces"`
	SourceTransportServers   []string       `json:"SourceTransportServers"`
	ProtocolLoggingLevel     string         `json:"ProtocolLoggingLevel,omitempty"`
}

// ReceiveConnector holds the Get-ReceiveConnector properties that matter for TLS.
type ReceiveConnector struct {
	Name     string `json:"Name"`
	Identity string `json:"Identity,omitempty"`
	Server   string `json:"Server,omitempty"`
	Enabled  bool   `json:"Enabled"`
	// Bindings as Exchange prints them: "0.0.0.0:25", "[::]:25".
	Bindings           []string `json:"Bindings"`
	TlsCertificateName string   `json:"TlsCertificateName,omitempty"`
	Fqdn               string   `json:"Fqdn,omitempty"`
	// AuthMechanism flag names: "Tls", "Integrated", "BasicAuth", ...;
	// ["None"] when none is enabled; empty when not collected.
	AuthMechanism []string `json:"AuthMechanism"`
	// TlsDomainCapabilities as Exchange prints them:
	// "mail.protection.outlook.com:AcceptCloudServicesMail".
	TlsDomainCapabilities []string `json:"TlsDomainCapabilities"`
	RequireTLS            bool     `json:"RequireTLS"`
	ProtocolLoggingLevel  string   `json:"ProtocolLoggingLevel,omitempty"`
	// TransportRole: "FrontendTransport" or "HubTransport" (Mailbox role);
	// "HubTransport" or "Edge" style values on Edge/2010.
	TransportRole string `json:"TransportRole,omitempty"`
}

// HasAuthMechanism reports whether name (case-insensitive) is among AuthMechanism.
func (r ReceiveConnector) HasAuthMechanism(name string) bool {
	for _, a := range r.AuthMechanism {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// Ports lists the distinct TCP ports of the bindings, in binding order.
func (r ReceiveConnector) Ports() []int {
	var out []int
	seen := map[int]bool{}
	for _, b := range r.Bindings {
		i := strings.LastIndexByte(b, ':')
		if i < 0 {
			continue
		}
		p, err := strconv.Atoi(b[i+1:])
		if err != nil || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}
