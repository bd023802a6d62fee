package exchange

import (
	"fmt"
	"strings"
)

// Enum tables. Values are those of the Exchange assemblies
// (Microsoft.Exchange.Data and Microsoft.Exchange.Data.Directory), because
// ConvertTo-Json in Windows PowerShell 5.1 writes enums as their integer value.

// TLS authentication levels of a send connector (Microsoft.Exchange.Data.TlsAuthLevel).
const (
	TLSAuthNone                  = ""
	TLSAuthEncryptionOnly        = "EncryptionOnly"
	TLSAuthCertificateValidation = "CertificateValidation"
	TLSAuthDomainValidation      = "DomainValidation"
)

// AuthMechanismNone is the AuthMechanism value recorded when a receive
// connector has no authentication mechanism at all.
const AuthMechanismNone = "None"

// Protocol logging levels (Microsoft.Exchange.Data.ProtocolLoggingLevel).
const (
	ProtocolLoggingNone    = "None"
	ProtocolLoggingVerbose = "Verbose"
)

type enumValue struct {
	value int64
	name  string
}

var tlsAuthLevels = []enumValue{
	{1, TLSAuthEncryptionOnly},
	{2, TLSAuthCertificateValidation},
	{4, TLSAuthDomainValidation},
}

var protocolLoggingLevels = []enumValue{
	{0, ProtocolLoggingNone},
	{1, ProtocolLoggingVerbose},
}

// Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole ([Flags]).
var serverRoleFlags = []enumValue{
	{1, "Cafe"},
	{2, "Mailbox"},
	{4, "ClientAccess"},
	{16, "UnifiedMessaging"},
	{32, "HubTransport"},
	{64, "Edge"},
	{128, "Monitoring"},
	{256, "CentralAdmin"},
	{512, "CentralAdminDatabase"},
	{1024, "DomainController"},
	{2048, "WindowsDeploymentServer"},
	{4096, "ProvisionedServer"},
	{8192, "LanguagePacks"},
	{16384, "FrontendTransport"},
	{32768, "CafeArray"},
	{65536, "FfoWebService"},
	{131072, "OSP"},
	{262144, "ARR"},
	{524288, "ManagementFrontEnd"},
	{1048576, "ManagementBackEnd"},
	{2097152, "SCOM"},
	{4194304, "CentralAdminFrontEnd"},
	{8388608, "NAT"},
	{16777216, "DHCP"},
}

// Receive connector AuthMechanisms ([Flags]).
var authMechanismFlags = []enumValue{
	{1, "Tls"},
	{2, "Integrated"},
	{4, "BasicAuth"},
	{8, "BasicAuthRequireTLS"},
	{16, "ExchangeServer"},
	{32, "ExternalAuthoritative"},
}

// Microsoft.Exchange.Data.SmtpReceiveCapabilities ([Flags]).
var receiveCapabilityFlags = []enumValue{
	{1, "AcceptOorgHeader"},
	{2, "AcceptOorgProtocol"},
	{4, "AcceptProxyProtocol"},
	{8, "AcceptProxyFromProtocol"},
	{16, "AcceptProxyToProtocol"},
	{32, "AcceptXAttrProtocol"},
	{64, "AcceptOrgHeaders"},
	{128, "AcceptXSysProbeProtocol"},
	{256, "AcceptCrossForestMail"},
	{512, "AcceptCloudServicesMail"},
	{1024, "AllowSubmit"},
	{2048, "AcceptXOriginalFromProtocol"},
	{4096, "AllowConsumerMail"},
}

// decodeEnum reads a single-valued enum given as a string name or an integer.
// An empty string or null gives "". Names are canonicalised to the table's
// spelling; an unknown name or number is an error naming the field.
func decodeEnum(n jnode, table []enumValue) (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		s, err := n.str()
		if err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return "", nil
		}
		for _, e := range table {
			if strings.EqualFold(e.name, s) || s == fmt.Sprint(e.value) {
				return e.name, nil
			}
		}
		return "", fmt.Errorf("%w: %s: unknown value %q (want one of %s)", ErrInvalidConfig, n.path, s, enumNames(table))
	}
	v, ok, err := n.integer()
	if err != nil {
		return "", n.typeErr("enum name or integer")
	}
	if !ok {
		return "", nil
	}
	for _, e := range table {
		if e.value == v {
			return e.name, nil
		}
	}
	return "", fmt.Errorf("%w: %s: unknown value %d (want one of %s)", ErrInvalidConfig, n.path, v, enumNames(table))
}

// decodeFlags reads a [Flags] enum given as an integer, a string such as
// "Tls, Integrated, BasicAuth" (what ToString() prints), or an array of names.
// Known names are canonicalised; unknown names are kept verbatim (new Exchange
// builds add values); unknown bits become "Unknown(<n>)".
func decodeFlags(n jnode, table []enumValue) ([]string, error) {
	switch n.kind() {
	case 'n', 0:
		return nil, nil
	case '"', '[':
		items, err := n.list()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, it := range items {
			if it.kind() != '"' {
				v, ok, err := it.integer()
				if err != nil {
					return nil, it.typeErr("flag name or integer")
				}
				if ok {
					out = append(out, flagsFromInt(v, table)...)
				}
				continue
			}
			s, err := it.str()
			if err != nil {
				return nil, err
			}
			for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
				part = strings.TrimSpace(part)
				if part == "" || strings.EqualFold(part, "None") {
					continue
				}
				out = append(out, canonicalFlag(part, table))
			}
		}
		return dedupe(out), nil
	}
	v, ok, err := n.integer()
	if err != nil {
		return nil, n.typeErr("flag names or integer")
	}
	if !ok {
		return nil, nil
	}
	return flagsFromInt(v, table), nil
}

func flagsFromInt(v int64, table []enumValue) []string {
	var out []string
	rest := v
	for _, e := range table {
		if v&e.value == e.value && e.value != 0 {
			out = append(out, e.name)
			rest &^= e.value
		}
	}
	if rest != 0 {
		out = append(out, fmt.Sprintf("Unknown(%d)", rest))
	}
	return out
}

func canonicalFlag(s string, table []enumValue) string {
	for _, e := range table {
		if strings.EqualFold(e.name, s) {
			return e.name
		}
	}
	return s
}

func enumNames(table []enumValue) string {
	names := make([]string, 0, len(table))
	for _, e := range table {
		names = append(names, e.name)
	}
	return strings.Join(names, ", ")
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		k := strings.ToLower(s)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out
}
