package exchange

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the inventory document version this package writes and
// the highest it reads. Documents without FormatVersion are read as version 1.
const FormatVersion = 1

// maxInventoryBytes bounds what LoadInventory reads (a real inventory is a
// few hundred KiB at most).
const maxInventoryBytes = 64 << 20

// Role is the transport role of the Exchange server, derived from ServerRole.
type Role string

// Roles mxprobe distinguishes.
const (
	RoleUnknown      Role = ""
	RoleEdge         Role = "Edge"
	RoleMailbox      Role = "Mailbox"      // 2013+ Mailbox (includes front-end transport)
	RoleHubTransport Role = "HubTransport" // Exchange 2010 Hub Transport
)

// Inventory is the Exchange-side configuration of one server that matters for
// SMTP TLS: the server, its transport service settings and the connectors.
// The JSON form is documented in docs/exchange-inventory.md.
type Inventory struct {
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
		return Version{}, fmt.Errorf("%w: version %q: want \"Version 15.2 (Build 1118.7)\" or \"15.2.1118.7\"", ErrInvalidInventory, s)
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
func (inv *Inventory) ProtocolLogPaths() []ProtocolLogPath {
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

// LoadInventoryFile reads an inventory document from path.
func LoadInventoryFile(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("exchange: open inventory: %w", err)
	}
	defer f.Close()
	inv, err := LoadInventory(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// LoadInventory reads an inventory document: the canonical form
// WriteInventory produces, or the raw output of ConvertTo-Json -Depth 4 of the
// Exchange cmdlet objects wrapped in one object (see docs/exchange-inventory.md).
// Unknown fields are ignored; fields of the wrong type give an error wrapping
// ErrInvalidInventory that names the field.
func LoadInventory(r io.Reader) (*Inventory, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInventoryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("exchange: read inventory: %w", err)
	}
	if len(data) > maxInventoryBytes {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalidInventory, maxInventoryBytes)
	}
	// Windows PowerShell's Out-File/Set-Content -Encoding UTF8 writes a BOM.
	data = []byte(strings.TrimPrefix(string(data), "\ufeff"))
	if !json.Valid(data) {
		var probe any
		err := json.Unmarshal(data, &probe)
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidInventory, err)
	}
	root, err := jnode{path: "", raw: data}.object()
	if err != nil {
		return nil, fmt.Errorf("%w: top level must be a JSON object", ErrInvalidInventory)
	}
	return decodeInventory(root)
}

func decodeInventory(root jobject) (*Inventory, error) {
	if msg, _ := root.str("CollectorError"); msg != "" {
		return nil, fmt.Errorf("%w: %s", ErrCollectorFailed, msg)
	}
	inv := &Inventory{FormatVersion: FormatVersion}
	if n, ok := root.get("FormatVersion"); ok && !n.isNull() {
		v, _, err := n.integer()
		if err != nil {
			return nil, err
		}
		if v < 1 || v > FormatVersion {
			return nil, fmt.Errorf("%w: FormatVersion %d (this build reads 1..%d)", ErrUnsupportedFormat, v, FormatVersion)
		}
	}
	var err error
	if inv.Collector, err = root.str("Collector"); err != nil {
		return nil, err
	}
	if n, ok := root.get("CollectedAt"); ok && !n.isNull() {
		if inv.CollectedAt, err = decodeTime(n); err != nil {
			return nil, err
		}
	}
	if n, ok := root.firstOf("ExchangeServer", "Server"); ok {
		if inv.Server, err = decodeServer(n); err != nil {
			return nil, err
		}
	}
	if n, ok := root.firstOf("TransportService", "TransportServer"); ok {
		if inv.TransportService, err = decodeTransportService(n); err != nil {
			return nil, err
		}
	}
	if n, ok := root.firstOf("FrontendTransportService"); ok {
		s, err := decodeLogSettings(n)
		if err != nil {
			return nil, err
		}
		inv.FrontendTransportService = &s
	}
	if n, ok := root.firstOf("MailboxTransportService"); ok {
		s, err := decodeLogSettings(n)
		if err != nil {
			return nil, err
		}
		inv.MailboxTransportService = &s
	}
	sendNode, _ := root.get("SendConnectors")
	items, err := sendNode.list()
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.isNull() {
			continue
		}
		c, err := decodeSendConnector(it)
		if err != nil {
			return nil, err
		}
		inv.SendConnectors = append(inv.SendConnectors, c)
	}
	recvNode, _ := root.get("ReceiveConnectors")
	if items, err = recvNode.list(); err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.isNull() {
			continue
		}
		c, err := decodeReceiveConnector(it)
		if err != nil {
			return nil, err
		}
		inv.ReceiveConnectors = append(inv.ReceiveConnectors, c)
	}
	return inv, nil
}

// msDateRE matches the "\/Date(1556778734000)\/" form Windows PowerShell 5.1
// gives DateTime values inside objects.
var msDateRE = regexp.MustCompile(`^/Date\((-?\d+)(?:[+-]\d{4})?\)/$`)

func decodeTime(n jnode) (time.Time, error) {
	if n.kind() == '{' {
		// ConvertTo-Json of a DateTime property: {"value":"\/Date(..)\/","DateTime":"..."}.
		o, err := n.object()
		if err != nil {
			return time.Time{}, err
		}
		if v, ok := o.get("value"); ok {
			return decodeTime(v)
		}
		return time.Time{}, n.typeErr("timestamp string")
	}
	s, err := n.str()
	if err != nil {
		return time.Time{}, n.typeErr("timestamp string")
	}
	s = strings.TrimSpace(s)
	if m := msDateRE.FindStringSubmatch(s); m != nil {
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %s: unparsable timestamp %q (want RFC 3339)", ErrInvalidInventory, n.path, s)
}

func decodeServer(n jnode) (Server, error) {
	o, err := n.object()
	if err != nil {
		return Server{}, err
	}
	var s Server
	if s.Name, err = o.str("Name"); err != nil {
		return s, err
	}
	if v, ok := o.firstOf("Fqdn"); ok {
		if s.Fqdn, err = hostString(v); err != nil {
			return s, err
		}
	}
	if v, ok := o.firstOf("AdminDisplayVersion"); ok {
		if s.AdminDisplayVersion, err = decodeVersion(v); err != nil {
			return s, err
		}
	}
	if v, ok := o.firstOf("ServerRole"); ok {
		roles, err := decodeFlags(v, serverRoleFlags)
		if err != nil {
			return s, err
		}
		s.ServerRole = strings.Join(roles, ", ")
	}
	if isEdge, err := o.boolean("IsEdgeServer", false); err != nil {
		return s, err
	} else if isEdge && s.Role() != RoleEdge {
		s.ServerRole = joinNonEmpty(", ", s.ServerRole, "Edge")
	}
	if v, ok := o.firstOf("Edition"); ok {
		if v.kind() == '"' {
			s.Edition, _ = v.str()
		} else if n, ok2, err := v.integer(); err == nil && ok2 {
			s.Edition = strconv.FormatInt(n, 10)
		} else {
			return s, v.typeErr("string")
		}
	}
	return s, nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// decodeVersion accepts "Version 15.2 (Build 1118.7)", "15.2.1118.7", or a
// ServerVersion object {Major, Minor, Build, Revision}; it returns the
// Exchange display form.
func decodeVersion(n jnode) (string, error) {
	if n.kind() == '"' {
		s, err := n.str()
		if err != nil {
			return "", err
		}
		v, err := ParseVersion(s)
		if err != nil {
			return "", fmt.Errorf("%w: %s: unparsable version %q", ErrInvalidInventory, n.path, s)
		}
		return v.String(), nil
	}
	o, err := n.object()
	if err != nil {
		return "", n.typeErr("version string or object")
	}
	var v Version
	for _, f := range []struct {
		key string
		dst *int
	}{{"Major", &v.Major}, {"Minor", &v.Minor}, {"Build", &v.Build}, {"Revision", &v.Revision}} {
		fn, _ := o.get(f.key)
		x, _, err := fn.integer()
		if err != nil {
			return "", err
		}
		*f.dst = int(x)
	}
	if v.Major == 0 {
		return "", fmt.Errorf("%w: %s: version object without Major", ErrInvalidInventory, n.path)
	}
	return v.String(), nil
}

func decodeTransportService(n jnode) (TransportService, error) {
	o, err := n.object()
	if err != nil {
		return TransportService{}, err
	}
	var t TransportService
	if t.Name, err = o.str("Name"); err != nil {
		return t, err
	}
	tp, err := o.str("InternalTransportCertificateThumbprint")
	if err != nil {
		return t, err
	}
	if t.InternalTransportCertificateThumbprint, err = normalizeThumbprint(tp); err != nil {
		return t, fmt.Errorf("%w: %s: %v", ErrInvalidInventory, o.child("InternalTransportCertificateThumbprint"), err)
	}
	if t.SendProtocolLogPath, err = pathField(o, "SendProtocolLogPath"); err != nil {
		return t, err
	}
	if t.ReceiveProtocolLogPath, err = pathField(o, "ReceiveProtocolLogPath"); err != nil {
		return t, err
	}
	return t, nil
}

func decodeLogSettings(n jnode) (ProtocolLogSettings, error) {
	o, err := n.object()
	if err != nil {
		return ProtocolLogSettings{}, err
	}
	var s ProtocolLogSettings
	if s.Name, err = o.str("Name"); err != nil {
		return s, err
	}
	if s.SendProtocolLogPath, err = pathField(o, "SendProtocolLogPath"); err != nil {
		return s, err
	}
	if s.ReceiveProtocolLogPath, err = pathField(o, "ReceiveProtocolLogPath"); err != nil {
		return s, err
	}
	return s, nil
}

// pathField reads a LocalLongFullPath: a string or an object with PathName.
func pathField(o jobject, key string) (string, error) {
	n, ok := o.get(key)
	if !ok || n.isNull() {
		return "", nil
	}
	if n.kind() == '{' {
		po, err := n.object()
		if err != nil {
			return "", err
		}
		return po.str("PathName")
	}
	s, err := n.str()
	if err != nil {
		return "", n.typeErr("path string or object with PathName")
	}
	return strings.TrimSpace(s), nil
}

// normalizeThumbprint upper-cases and strips spaces/colons; non-hex is an error.
func normalizeThumbprint(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', ':', '\u200e', '\u200f', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	s = strings.ToUpper(s)
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'F') {
			return "", fmt.Errorf("thumbprint %q is not hexadecimal", s)
		}
	}
	return s, nil
}

func decodeSendConnector(n jnode) (SendConnector, error) {
	o, err := n.object()
	if err != nil {
		return SendConnector{}, err
	}
	var c SendConnector
	if c.Name, err = o.str("Name"); err != nil {
		return c, err
	}
	if c.Name == "" {
		return c, fmt.Errorf("%w: %s: missing connector name", ErrInvalidInventory, o.child("Name"))
	}
	if c.Identity, err = identityString(o); err != nil {
		return c, err
	}
	if c.Enabled, err = o.boolean("Enabled", true); err != nil {
		return c, err
	}
	if c.TlsCertificateName, err = tlsNameField(o); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("Fqdn"); ok {
		if c.Fqdn, err = hostString(v); err != nil {
			return c, err
		}
	}
	if c.RequireTLS, err = o.boolean("RequireTLS", false); err != nil {
		return c, err
	}
	tl, _ := o.get("TlsAuthLevel")
	if c.TlsAuthLevel, err = decodeEnum(tl, tlsAuthLevels); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("TlsDomain"); ok {
		if c.TlsDomain, err = domainString(v); err != nil {
			return c, err
		}
	}
	if c.CloudServicesMailEnabled, err = o.boolean("CloudServicesMailEnabled", false); err != nil {
		return c, err
	}
	if c.DNSRoutingEnabled, err = o.boolean("DNSRoutingEnabled", false); err != nil {
		return c, err
	}
	if c.SmartHosts, err = listOf(o, "SmartHosts", hostString); err != nil {
		return c, err
	}
	as, _ := o.get("AddressSpaces")
	items, err := as.list()
	if err != nil {
		return c, err
	}
	for _, it := range items {
		a, err := decodeAddressSpace(it)
		if err != nil {
			return c, err
		}
		c.AddressSpaces = append(c.AddressSpaces, a)
	}
	if c.SourceTransportServers, err = listOf(o, "SourceTransportServers", adObjectName); err != nil {
		return c, err
	}
	pl, _ := o.get("ProtocolLoggingLevel")
	if c.ProtocolLoggingLevel, err = decodeEnum(pl, protocolLoggingLevels); err != nil {
		return c, err
	}
	return c, nil
}

func decodeReceiveConnector(n jnode) (ReceiveConnector, error) {
	o, err := n.object()
	if err != nil {
		return ReceiveConnector{}, err
	}
	var c ReceiveConnector
	if c.Name, err = o.str("Name"); err != nil {
		return c, err
	}
	if c.Name == "" {
		return c, fmt.Errorf("%w: %s: missing connector name", ErrInvalidInventory, o.child("Name"))
	}
	if c.Identity, err = identityString(o); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("Server"); ok {
		if c.Server, err = adObjectName(v); err != nil {
			return c, err
		}
	}
	if c.Enabled, err = o.boolean("Enabled", true); err != nil {
		return c, err
	}
	if c.Bindings, err = listOf(o, "Bindings", bindingString); err != nil {
		return c, err
	}
	if c.TlsCertificateName, err = tlsNameField(o); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("Fqdn"); ok {
		if c.Fqdn, err = hostString(v); err != nil {
			return c, err
		}
	}
	am, _ := o.get("AuthMechanism")
	if c.AuthMechanism, err = decodeFlags(am, authMechanismFlags); err != nil {
		return c, err
	}
	if len(c.AuthMechanism) == 0 && !am.isNull() {
		// Present but empty/0/"None": record it, so "no Tls" is distinguishable
		// from "not collected".
		c.AuthMechanism = []string{AuthMechanismNone}
	}
	if c.TlsDomainCapabilities, err = listOf(o, "TlsDomainCapabilities", domainCapabilityString); err != nil {
		return c, err
	}
	if c.RequireTLS, err = o.boolean("RequireTLS", false); err != nil {
		return c, err
	}
	pl, _ := o.get("ProtocolLoggingLevel")
	if c.ProtocolLoggingLevel, err = decodeEnum(pl, protocolLoggingLevels); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("TransportRole"); ok {
		roles, err := decodeFlags(v, serverRoleFlags)
		if err != nil {
			return c, err
		}
		c.TransportRole = strings.Join(roles, ", ")
	}
	return c, nil
}

// identityString reads Identity: a string, or an ADObjectId object (whose
// display form for connectors is "SERVER\Name"; Name is the best we have).
func identityString(o jobject) (string, error) {
	n, ok := o.firstOf("Identity")
	if !ok {
		return "", nil
	}
	return adObjectName(n)
}

// listOf decodes a multi-valued property element by element.
func listOf(o jobject, key string, elem func(jnode) (string, error)) ([]string, error) {
	n, _ := o.get(key)
	items, err := n.list()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if it.isNull() {
			continue
		}
		s, err := elem(it)
		if err != nil {
			return nil, err
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// tlsNameField reads TlsCertificateName: "<I>..<S>.." or an SmtpX509Identifier
// object {CertificateIssuer, CertificateSubject}. The value is not validated
// here: a malformed name is a finding (NameInvalid), not a load error.
func tlsNameField(o jobject) (string, error) {
	n, ok := o.get("TlsCertificateName")
	if !ok || n.isNull() {
		return "", nil
	}
	if n.kind() == '{' {
		xo, err := n.object()
		if err != nil {
			return "", err
		}
		iss, err := xo.str("CertificateIssuer")
		if err != nil {
			return "", err
		}
		sub, err := xo.str("CertificateSubject")
		if err != nil {
			return "", err
		}
		if iss == "" && sub == "" {
			return "", nil
		}
		return TLSCertificateName{Issuer: iss, Subject: sub}.String(), nil
	}
	s, err := n.str()
	if err != nil {
		return "", n.typeErr("string \"<I>issuer<S>subject\" or object {CertificateIssuer, CertificateSubject}")
	}
	return strings.TrimSpace(s), nil
}

// hostString reads an Fqdn / Hostname / SmartHost / IPAddress value given as
// a string or as the object ConvertTo-Json makes of it.
func hostString(n jnode) (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		s, err := n.str()
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			s = s[1 : len(s)-1] // SmartHost "[10.0.0.1]"
		}
		return s, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		// SmartHost: {Domain: Hostname{HostnameString}, Address: IPAddress, IsIPAddress}
		// Fqdn: {Domain: "..."}; Hostname: {HostnameString}; IPAddress: {IPAddressToString}
		for _, k := range []string{"HostnameString", "Domain", "IPAddressToString", "Address", "SmartHostString", "Fqdn"} {
			if v, ok := o.get(k); ok && !v.isNull() {
				if v.kind() == '"' || v.kind() == '{' {
					return hostString(v)
				}
			}
		}
		return "", fmt.Errorf("%w: %s: host object without Domain/HostnameString/Address", ErrInvalidInventory, n.path)
	}
	return "", n.typeErr("host name string or object")
}

// domainString reads an SmtpDomain / SmtpDomainWithSubdomains value.
func domainString(n jnode) (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		s, err := n.str()
		return strings.TrimSpace(s), err
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		// SmtpDomainWithSubdomains.Address is "*.contoso.com" when IncludeSubDomains.
		for _, k := range []string{"Address", "Domain", "SmtpDomain"} {
			if v, ok := o.get(k); ok && !v.isNull() && (v.kind() == '"' || v.kind() == '{') {
				return domainString(v)
			}
		}
		return "", fmt.Errorf("%w: %s: domain object without Address/Domain", ErrInvalidInventory, n.path)
	}
	return "", n.typeErr("domain string or object")
}

// adObjectName reads an ADObjectId (string or object with Name).
func adObjectName(n jnode) (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		s, err := n.str()
		return strings.TrimSpace(s), err
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		for _, k := range []string{"Name", "Rdn", "DistinguishedName"} {
			if v, ok := o.get(k); ok && v.kind() == '"' {
				s, err := v.str()
				if err != nil {
					return "", err
				}
				if k == "Rdn" || k == "DistinguishedName" {
					s = strings.TrimPrefix(strings.SplitN(s, ",", 2)[0], "CN=")
				}
				if s = strings.TrimSpace(s); s != "" {
					return s, nil
				}
			}
		}
		return "", fmt.Errorf("%w: %s: object without Name", ErrInvalidInventory, n.path)
	}
	return "", n.typeErr("name string or object with Name")
}

// bindingString reads an IPBinding: "0.0.0.0:25", "[::]:25", or
// {Address: IPAddress|string, Port: n}. The result uses Exchange's form.
func bindingString(n jnode) (string, error) {
	switch n.kind() {
	case '"':
		s, err := n.str()
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		i := strings.LastIndexByte(s, ':')
		if i <= 0 {
			return "", fmt.Errorf("%w: %s: binding %q lacks :port", ErrInvalidInventory, n.path, s)
		}
		if _, err := strconv.Atoi(s[i+1:]); err != nil {
			return "", fmt.Errorf("%w: %s: binding %q has a bad port", ErrInvalidInventory, n.path, s)
		}
		return s, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		addrNode, ok := o.firstOf("Address")
		if !ok {
			return "", fmt.Errorf("%w: %s: binding object without Address", ErrInvalidInventory, n.path)
		}
		addr, err := hostString(addrNode)
		if err != nil {
			return "", err
		}
		pn, _ := o.get("Port")
		port, ok, err := pn.integer()
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%w: %s: binding object without Port", ErrInvalidInventory, n.path)
		}
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		return fmt.Sprintf("%s:%d", addr, port), nil
	}
	return "", n.typeErr("binding string or object")
}

// domainCapabilityString reads an SmtpReceiveDomainCapabilities entry:
// "mail.protection.outlook.com:AcceptCloudServicesMail" or
// {Domain: ..., Capabilities: int|string}.
func domainCapabilityString(n jnode) (string, error) {
	switch n.kind() {
	case '"':
		s, err := n.str()
		return strings.TrimSpace(s), err
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		dn, _ := o.firstOf("Domain")
		d, err := domainString(dn)
		if err != nil {
			return "", err
		}
		cn, _ := o.get("Capabilities")
		caps, err := decodeFlags(cn, receiveCapabilityFlags)
		if err != nil {
			return "", err
		}
		if d == "" {
			return "", fmt.Errorf("%w: %s: capability entry without Domain", ErrInvalidInventory, n.path)
		}
		return d + ":" + strings.Join(caps, ", "), nil
	}
	return "", n.typeErr("capability string or object")
}

// decodeAddressSpace reads "SMTP:*;1", "*", "smtp:contoso.com;10" or
// {Type, Address, Cost, ...}.
func decodeAddressSpace(n jnode) (AddressSpace, error) {
	switch n.kind() {
	case '"':
		s, err := n.str()
		if err != nil {
			return AddressSpace{}, err
		}
		a, err := ParseAddressSpace(s)
		if err != nil {
			return a, fmt.Errorf("%w: %s: %v", ErrInvalidInventory, n.path, err)
		}
		return a, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return AddressSpace{}, err
		}
		a := AddressSpace{Type: "SMTP", Cost: 1}
		if t, err := o.str("Type"); err != nil {
			return a, err
		} else if t != "" {
			a.Type = strings.ToUpper(t)
		}
		addr, ok := o.firstOf("Address", "Domain")
		if !ok {
			return a, fmt.Errorf("%w: %s: address space without Address", ErrInvalidInventory, n.path)
		}
		if a.Address, err = domainString(addr); err != nil {
			return a, err
		}
		if cn, ok := o.get("Cost"); ok && !cn.isNull() {
			c, _, err := cn.integer()
			if err != nil {
				return a, err
			}
			a.Cost = int(c)
		}
		return a, nil
	}
	return AddressSpace{}, n.typeErr("address space string or object")
}

// ParseAddressSpace parses Exchange's "Type:Address;Cost" form; a bare
// address means SMTP with cost 1.
func ParseAddressSpace(s string) (AddressSpace, error) {
	s = strings.TrimSpace(s)
	a := AddressSpace{Type: "SMTP", Cost: 1}
	if s == "" {
		return a, fmt.Errorf("empty address space")
	}
	if i := strings.IndexByte(s, ':'); i > 0 && !strings.ContainsAny(s[:i], ".*") {
		a.Type = strings.ToUpper(s[:i])
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		c, err := strconv.Atoi(strings.TrimSpace(s[i+1:]))
		if err != nil {
			return a, fmt.Errorf("address space %q: bad cost", s)
		}
		a.Cost = c
		s = s[:i]
	}
	a.Address = strings.TrimSpace(s)
	if a.Address == "" {
		return a, fmt.Errorf("address space without address")
	}
	return a, nil
}

// WriteInventory writes inv in the canonical, indented JSON form, which
// LoadInventory reads back unchanged. Slices are written as [] (never null).
func WriteInventory(w io.Writer, inv *Inventory) error {
	if inv == nil {
		return fmt.Errorf("%w: nil inventory", ErrInvalidInventory)
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
