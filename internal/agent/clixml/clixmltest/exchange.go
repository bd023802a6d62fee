package clixmltest

import (
	"crypto/x509"
	"fmt"
	"strings"
)

const (
	sysCfg = "Microsoft.Exchange.Data.Directory.SystemConfiguration."
	adObj  = "Microsoft.Exchange.Data.Directory.ADObjectId"
)

func adTypes(most string) []string {
	return []string{most, sysCfg + "ADConfigurationObject", "Microsoft.Exchange.Data.Directory.ADObject",
		"Microsoft.Exchange.Data.Directory.ADRawEntry", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"}
}

func adID(name, toString string) *Node {
	return Value(name, adObj, toString, S("Name", lastPart(toString)))
}

func lastPart(s string) string {
	if i := strings.LastIndexByte(s, '\\'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func tlsName(v string) *Node {
	if v == "" {
		return Nil("TlsCertificateName")
	}
	return Value("TlsCertificateName", "Microsoft.Exchange.Data.SmtpX509Identifier", v)
}

func fqdn(name, v string) *Node {
	if v == "" {
		return Nil(name)
	}
	return Value(name, "Microsoft.Exchange.Data.Fqdn", v, S("Domain", v))
}

// ReceiveConnector is what Get-ReceiveConnector serializes.
type ReceiveConnector struct {
	Server, Name, Fqdn, TlsCertificateName string
	Bindings                               []string
	AuthMechanism                          string // "Tls, Integrated, ..."
	AuthMechanismValue                     int
	TlsDomainCapabilities                  []string
	TransportRole                          string // "FrontendTransport", "HubTransport"
	ProtocolLoggingLevel                   string // "None", "Verbose"
	Enabled, RequireTLS                    bool
}

// Obj renders the connector.
func (r ReceiveConnector) Obj() *Node {
	id := r.Server + `\` + r.Name
	var binds []*Node
	for _, b := range r.Bindings {
		binds = append(binds, Value("", "Microsoft.Exchange.Data.IPBinding", b, I32("Port", port(b))))
	}
	var caps []*Node
	for _, c := range r.TlsDomainCapabilities {
		caps = append(caps, Value("", "Microsoft.Exchange.Data.SmtpReceiveDomainCapabilities", c))
	}
	return Obj("", adTypes(sysCfg+"ReceiveConnector"), id, []*Node{
		Enum("AuthMechanism", sysCfg+"AuthMechanisms", r.AuthMechanism, r.AuthMechanismValue),
		S("Banner", ""),
		List("Bindings", "Microsoft.Exchange.Data.IPBinding", binds...),
		fqdn("Fqdn", r.Fqdn),
		tlsName(r.TlsCertificateName),
		B("Enabled", r.Enabled),
		Enum("ProtocolLoggingLevel", "Microsoft.Exchange.Data.ProtocolLoggingLevel", orNone(r.ProtocolLoggingLevel), logLevel(r.ProtocolLoggingLevel)),
		B("RequireTLS", r.RequireTLS),
		List("TlsDomainCapabilities", "Microsoft.Exchange.Data.SmtpReceiveDomainCapabilities", caps...),
		Enum("TransportRole", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", r.TransportRole, 0),
		adID("Server", r.Server),
		S("Name", r.Name),
		adID("Identity", id),
		S("DistinguishedName", fmt.Sprintf("CN=%s,CN=SMTP Receive Connectors,CN=Protocols,CN=%s,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com", r.Name, r.Server)),
	}, S("PSComputerName", strings.ToLower(r.Server)+".contoso.com"), B("PSShowComputerName", false))
}

// SendConnector is what Get-SendConnector serializes.
type SendConnector struct {
	Name, Fqdn, TlsCertificateName, TlsDomain, TlsAuthLevel string
	AddressSpaces, SmartHosts, SourceTransportServers       []string
	RequireTLS, CloudServicesMailEnabled, DNSRoutingEnabled bool
	Enabled                                                 bool
	ProtocolLoggingLevel                                    string
}

// Obj renders the connector.
func (s SendConnector) Obj() *Node {
	var as, sh, src []*Node
	for _, a := range s.AddressSpaces {
		as = append(as, Value("", "Microsoft.Exchange.Data.AddressSpace", a))
	}
	for _, h := range s.SmartHosts {
		sh = append(sh, Value("", "Microsoft.Exchange.Data.SmartHost", h))
	}
	for _, n := range s.SourceTransportServers {
		src = append(src, adID("", n))
	}
	tl := Nil("TlsAuthLevel")
	if s.TlsAuthLevel != "" {
		tl = Enum("TlsAuthLevel", "Microsoft.Exchange.Data.TlsAuthLevel", s.TlsAuthLevel, 0)
	}
	td := Nil("TlsDomain")
	if s.TlsDomain != "" {
		td = Value("TlsDomain", "Microsoft.Exchange.Data.SmtpDomainWithSubdomains", s.TlsDomain)
	}
	return Obj("", adTypes(sysCfg+"SmtpSendConnectorConfig"), s.Name, []*Node{
		List("AddressSpaces", "Microsoft.Exchange.Data.AddressSpace", as...),
		B("CloudServicesMailEnabled", s.CloudServicesMailEnabled),
		B("DNSRoutingEnabled", s.DNSRoutingEnabled),
		B("Enabled", s.Enabled),
		fqdn("Fqdn", s.Fqdn),
		Enum("ProtocolLoggingLevel", "Microsoft.Exchange.Data.ProtocolLoggingLevel", orNone(s.ProtocolLoggingLevel), logLevel(s.ProtocolLoggingLevel)),
		B("RequireTLS", s.RequireTLS),
		List("SmartHosts", "Microsoft.Exchange.Data.SmartHost", sh...),
		List("SourceTransportServers", adObj, src...),
		tl, td,
		tlsName(s.TlsCertificateName),
		S("Name", s.Name),
		adID("Identity", s.Name),
	}, S("PSComputerName", "edge01.contoso.com"))
}

// TransportService is what Get-TransportService serializes.
type TransportService struct {
	Name, InternalTransportCertificateThumbprint, SendProtocolLogPath, ReceiveProtocolLogPath string
}

// Obj renders it.
func (t TransportService) Obj() *Node {
	path := func(n, v string) *Node {
		if v == "" {
			return Nil(n)
		}
		return Value(n, "Microsoft.Exchange.Data.LocalLongFullPath", v, S("PathName", v))
	}
	return Obj("", adTypes(sysCfg+"TransportServerPresentationObject"), t.Name, []*Node{
		S("InternalTransportCertificateThumbprint", t.InternalTransportCertificateThumbprint),
		path("SendProtocolLogPath", t.SendProtocolLogPath),
		path("ReceiveProtocolLogPath", t.ReceiveProtocolLogPath),
		S("Name", t.Name),
		adID("Identity", t.Name),
	})
}

// ExchangeServer is what Get-ExchangeServer serializes.
type ExchangeServer struct {
	Name, Fqdn, AdminDisplayVersion, ServerRole string
	IsEdgeServer                                bool
}

// Obj renders it.
func (e ExchangeServer) Obj() *Node {
	return Obj("", []string{"Microsoft.Exchange.Data.Directory.Management.ExchangeServer", "Microsoft.Exchange.Data.Directory.ADPresentationObject", "Microsoft.Exchange.Data.Directory.ADObject", "System.Object"}, e.Name, []*Node{
		S("Name", e.Name),
		fqdn("Fqdn", e.Fqdn),
		Value("AdminDisplayVersion", "Microsoft.Exchange.Data.ServerVersion", e.AdminDisplayVersion),
		Enum("ServerRole", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", e.ServerRole, 0),
		B("IsEdgeServer", e.IsEdgeServer),
	})
}

// StoreCertificate is one item of Get-ChildItem Cert:\LocalMachine\My: an
// X509Certificate2 serializes its RawData, with the provider's note
// properties.
func StoreCertificate(c *x509.Certificate, thumbprint string) *Node {
	path := `Microsoft.PowerShell.Security\Certificate::LocalMachine\My\` + thumbprint
	return Obj("", []string{"System.Security.Cryptography.X509Certificates.X509Certificate2", "System.Security.Cryptography.X509Certificates.X509Certificate", "System.Object"},
		certToString(c, thumbprint), []*Node{BA("RawData", c.Raw)},
		S("PSPath", path), S("PSParentPath", `Microsoft.PowerShell.Security\Certificate::LocalMachine\My`), S("PSChildName", thumbprint),
		B("PSIsContainer", false))
}

// ExchangeCertificate is one item of Get-ExchangeCertificate.
func ExchangeCertificate(c *x509.Certificate, thumbprint, server string) *Node {
	return Obj("", []string{"Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate", "System.Security.Cryptography.X509Certificates.X509Certificate2", "System.Security.Cryptography.X509Certificates.X509Certificate", "System.Object"},
		certToString(c, thumbprint), []*Node{BA("RawData", c.Raw)},
		S("PSComputerName", strings.ToLower(server)+".contoso.com"), B("PSShowComputerName", false),
		BA("SerializationData", []byte("\x00\x01\x00\x00\x00\xff\xff\xff\xff"+server+`\`+thumbprint)))
}

func certToString(c *x509.Certificate, tp string) string {
	return fmt.Sprintf("[Subject]\r\n  %s\r\n\r\n[Issuer]\r\n  %s\r\n\r\n[Serial Number]\r\n  %X\r\n\r\n[Not Before]\r\n  %s\r\n\r\n[Not After]\r\n  %s\r\n\r\n[Thumbprint]\r\n  %s\r\n",
		c.Subject, c.Issuer, c.SerialNumber, c.NotBefore.Format("1/2/2006 15:04:05"), c.NotAfter.Format("1/2/2006 15:04:05"), tp)
}

func port(binding string) int {
	var p int
	if i := strings.LastIndexByte(binding, ':'); i >= 0 {
		_, _ = fmt.Sscan(binding[i+1:], &p)
	}
	return p
}

func orNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

func logLevel(s string) int {
	if strings.EqualFold(s, "Verbose") {
		return 1
	}
	return 0
}

// InboundConnector is what Exchange Online's Get-InboundConnector
// serializes (Exchange Online PowerShell).
type InboundConnector struct {
	Name, ConnectorType, TlsSenderCertificateName string
	SenderDomains                                 []string
	Enabled, RequireTls, RestrictDomains          bool
}

// Obj renders it.
func (c InboundConnector) Obj() *Node {
	var doms []*Node
	for _, d := range c.SenderDomains {
		doms = append(doms, Value("", "Microsoft.Exchange.Data.AddressSpace", d))
	}
	sn := Nil("TlsSenderCertificateName")
	if c.TlsSenderCertificateName != "" {
		sn = Value("TlsSenderCertificateName", "Microsoft.Exchange.Data.TlsCertificate", c.TlsSenderCertificateName)
	}
	return Obj("", adTypes(sysCfg+"TenantInboundConnector"), c.Name, []*Node{
		S("Name", c.Name),
		B("Enabled", c.Enabled),
		Enum("ConnectorType", sysCfg+"TenantConnectorType", c.ConnectorType, 0),
		sn,
		B("RequireTls", c.RequireTls),
		B("RestrictDomainsToCertificate", c.RestrictDomains),
		List("SenderDomains", "Microsoft.Exchange.Data.AddressSpace", doms...),
		adID("Identity", c.Name),
	})
}
