package exchange

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// LoadConfig reads an inventory document: the canonical form
// WriteConfig produces, or the raw output of ConvertTo-Json -Depth 4 of the
// Exchange cmdlet objects wrapped in one object (see docs/exchange-inventory.md).
// Unknown fields are ignored; fields of the wrong type give an error wrapping
// ErrInvalidConfig that names the field.
func LoadConfig(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("exchange: read inventory: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalidConfig, MaxConfigBytes)
	}
	// Windows PowerShell's Out-File/Set-Content -Encoding UTF8 writes a BOM.
	data = []byte(strings.TrimPrefix(string(data), "\ufeff"))
	if !json.Valid(data) {
		var probe any
		err := json.Unmarshal(data, &probe)
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidConfig, err)
	}
	root, err := jnode{path: "", raw: data}.object()
	if err != nil {
		return nil, fmt.Errorf("%w: top level must be a JSON object", ErrInvalidConfig)
	}
	return decodeConfig(root)
}

func decodeConfig(root jobject) (*Config, error) {
	if msg, _ := root.str("CollectorError"); msg != "" {
		return nil, fmt.Errorf("%w: %s", ErrCollectorFailed, msg)
	}
	inv := &Config{FormatVersion: FormatVersion}
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
	if inv.SendConnectors, err = objectsOf(root, "SendConnectors", decodeSendConnector); err != nil {
		return nil, err
	}
	if inv.ReceiveConnectors, err = objectsOf(root, "ReceiveConnectors", decodeReceiveConnector); err != nil {
		return nil, err
	}
	if _, ok := root.firstOf("InboundConnectors"); ok {
		if inv.InboundConnectors, err = objectsOf(root, "InboundConnectors", decodeInboundConnector); err != nil {
			return nil, err
		}
		if inv.InboundConnectors == nil {
			inv.InboundConnectors = []InboundConnector{} // collected, none
		}
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
	return time.Time{}, fmt.Errorf("%w: %s: unparsable timestamp %q (want RFC 3339)", ErrInvalidConfig, n.path, s)
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
	if s.Fqdn, err = o.text("Fqdn", hostString); err != nil {
		return s, err
	}
	if s.AdminDisplayVersion, err = o.text("AdminDisplayVersion", decodeVersion); err != nil {
		return s, err
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
			return "", fmt.Errorf("%w: %s: unparsable version %q", ErrInvalidConfig, n.path, s)
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
		return "", fmt.Errorf("%w: %s: version object without Major", ErrInvalidConfig, n.path)
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
	if t.InternalTransportCertificateThumbprint, err = configThumbprint(tp); err != nil {
		return t, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, o.child("InternalTransportCertificateThumbprint"), err)
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

// configThumbprint reads a thumbprint property: empty stays empty, anything
// else must be a thumbprint (package thumbprint spells it).
func configThumbprint(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return thumbprint.Parse(s)
}

func decodeSendConnector(n jnode) (SendConnector, error) {
	o, err := n.object()
	if err != nil {
		return SendConnector{}, err
	}
	var c SendConnector
	if c.Name, c.Identity, err = connectorName(o); err != nil {
		return c, err
	}
	if c.Enabled, err = o.boolean("Enabled", true); err != nil {
		return c, err
	}
	if c.TlsCertificateName, err = tlsNameField(o); err != nil {
		return c, err
	}
	if c.Fqdn, err = o.text("Fqdn", hostString); err != nil {
		return c, err
	}
	if c.RequireTLS, err = o.boolean("RequireTLS", false); err != nil {
		return c, err
	}
	tl, _ := o.get("TlsAuthLevel")
	if c.TlsAuthLevel, err = decodeEnum(tl, tlsAuthLevels); err != nil {
		return c, err
	}
	if c.TlsDomain, err = o.text("TlsDomain", domainString); err != nil {
		return c, err
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
	if c.Name, c.Identity, err = connectorName(o); err != nil {
		return c, err
	}
	if c.Server, err = o.text("Server", adObjectName); err != nil {
		return c, err
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
	if c.Fqdn, err = o.text("Fqdn", hostString); err != nil {
		return c, err
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

// connectorName reads a Send or Receive connector's Name, which it must
// have, and its Identity.
func connectorName(o jobject) (name, identity string, err error) {
	if name, err = o.str("Name"); err != nil {
		return "", "", err
	}
	if name == "" {
		return "", "", fmt.Errorf("%w: %s: missing connector name", ErrInvalidConfig, o.child("Name"))
	}
	identity, err = identityString(o)
	return name, identity, err
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

// objectsOf decodes each item of the list at key with elem; null items are
// skipped.
func objectsOf[T any](o jobject, key string, elem func(jnode) (T, error)) ([]T, error) {
	n, _ := o.get(key)
	items, err := n.list()
	if err != nil {
		return nil, err
	}
	var out []T
	for _, it := range items {
		if it.isNull() {
			continue
		}
		v, err := elem(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// listOf decodes a multi-valued property element by element; empty values
// are dropped.
func listOf(o jobject, key string, elem func(jnode) (string, error)) ([]string, error) {
	all, err := objectsOf(o, key, elem)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, s := range all {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
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
	// SmartHost: {Domain: Hostname{HostnameString}, Address: IPAddress, IsIPAddress}
	// Fqdn: {Domain: "..."}; Hostname: {HostnameString}; IPAddress: {IPAddressToString}
	return stringOrObject(n, textForm{
		want:    "host name string or object",
		missing: "host object without Domain/HostnameString/Address",
		keys:    []string{"HostnameString", "Domain", "IPAddressToString", "Address", "SmartHostString", "Fqdn"},
		clean:   unbracket,
	})
}

// unbracket drops the brackets of a SmartHost given as an address literal,
// "[10.0.0.1]".
func unbracket(s string) string {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1]
	}
	return s
}

// domainString reads an SmtpDomain / SmtpDomainWithSubdomains value.
func domainString(n jnode) (string, error) {
	// SmtpDomainWithSubdomains.Address is "*.contoso.com" when IncludeSubDomains.
	return stringOrObject(n, textForm{
		want:    "domain string or object",
		missing: "domain object without Address/Domain",
		keys:    []string{"Address", "Domain", "SmtpDomain"},
	})
}

// textForm describes a value Exchange's cmdlets give as a string or as the
// object ConvertTo-Json makes of it: the first of keys that holds a string
// or another such object carries the value.
type textForm struct {
	want    string              // what the value should be, for a type error
	missing string              // the error when an object has none of keys
	keys    []string            // the object's fields that carry the value, in order
	clean   func(string) string // applied to the trimmed string; nil keeps it
}

// stringOrObject reads n as f describes: null or absent is "", a string is
// trimmed (and cleaned), an object yields its first usable key's value.
func stringOrObject(n jnode, f textForm) (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		s, err := n.str()
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		if f.clean != nil {
			s = f.clean(s)
		}
		return s, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		for _, k := range f.keys {
			if v, ok := o.get(k); ok && !v.isNull() && (v.kind() == '"' || v.kind() == '{') {
				return stringOrObject(v, f)
			}
		}
		return "", fmt.Errorf("%w: %s: %s", ErrInvalidConfig, n.path, f.missing)
	}
	return "", n.typeErr(f.want)
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
		return "", fmt.Errorf("%w: %s: object without Name", ErrInvalidConfig, n.path)
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
			return "", fmt.Errorf("%w: %s: binding %q lacks :port", ErrInvalidConfig, n.path, s)
		}
		if _, err := strconv.Atoi(s[i+1:]); err != nil {
			return "", fmt.Errorf("%w: %s: binding %q has a bad port", ErrInvalidConfig, n.path, s)
		}
		return s, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return "", err
		}
		addrNode, ok := o.firstOf("Address")
		if !ok {
			return "", fmt.Errorf("%w: %s: binding object without Address", ErrInvalidConfig, n.path)
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
			return "", fmt.Errorf("%w: %s: binding object without Port", ErrInvalidConfig, n.path)
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
			return "", fmt.Errorf("%w: %s: capability entry without Domain", ErrInvalidConfig, n.path)
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
			return a, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, n.path, err)
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
			return a, fmt.Errorf("%w: %s: address space without Address", ErrInvalidConfig, n.path)
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
