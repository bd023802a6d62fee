package exchange

import (
	"fmt"
	"strings"
)

// InboundConnector is an Exchange Online inbound connector
// (Get-InboundConnector in Exchange Online PowerShell). The on-premises
// server cannot read these; an admin adds the export to the inventory so
// that checks can compare the certificate with what Exchange Online
// requires of it (catalog F: 550 5.7.51 TenantInboundAttribution when the
// certificate a server sends does not carry TlsSenderCertificateName).
type InboundConnector struct {
	Name    string `json:"Name"`
	Enabled bool   `json:"Enabled"`
	// ConnectorType is "OnPremises" (hybrid, what the HCW creates) or "Partner".
	ConnectorType string `json:"ConnectorType,omitempty"`
	// TlsSenderCertificateName is the name the sending server's certificate
	// must carry: a host name, or "*.contoso.com" for any name in that domain.
	TlsSenderCertificateName     string   `json:"TlsSenderCertificateName,omitempty"`
	RequireTls                   bool     `json:"RequireTls"`
	RestrictDomainsToCertificate bool     `json:"RestrictDomainsToCertificate"`
	SenderDomains                []string `json:"SenderDomains"`
}

// CoversSenderName reports whether a certificate name (a CN or DNS SAN,
// possibly a wildcard) satisfies a TlsSenderCertificateName value: equal
// names (case-insensitive, without a trailing dot), or a value
// "*.contoso.com", which Exchange Online documents as every subdomain of
// contoso.com, met by any name below contoso.com.
func CoversSenderName(value, certName string) bool {
	v, n := normalizeHost(value), normalizeHost(certName)
	if v == "" || n == "" {
		return false
	}
	if v == n {
		return true
	}
	rest, ok := strings.CutPrefix(v, "*.")
	if !ok || rest == "" {
		return false
	}
	n = strings.TrimPrefix(n, "*.")
	return strings.HasSuffix(n, "."+rest)
}

func decodeInboundConnector(n jnode) (InboundConnector, error) {
	o, err := n.object()
	if err != nil {
		return InboundConnector{}, err
	}
	var c InboundConnector
	if c.Name, err = o.str("Name"); err != nil {
		return c, err
	}
	if c.Name == "" {
		if c.Name, err = identityString(o); err != nil {
			return c, err
		}
	}
	if c.Name == "" {
		return c, fmt.Errorf("%w: %s: missing connector name", ErrInvalidConfig, o.child("Name"))
	}
	if c.Enabled, err = o.boolean("Enabled", true); err != nil {
		return c, err
	}
	if v, ok := o.firstOf("ConnectorType"); ok && v.kind() == '"' {
		// Its name; the integer form's values are not documented, so an
		// integer leaves the type unknown rather than guessed.
		if c.ConnectorType, err = v.str(); err != nil {
			return c, err
		}
	}
	if c.TlsSenderCertificateName, err = o.text("TlsSenderCertificateName", senderNameString); err != nil {
		return c, err
	}
	if c.RequireTls, err = o.boolean("RequireTls", false); err != nil {
		return c, err
	}
	if c.RestrictDomainsToCertificate, err = o.boolean("RestrictDomainsToCertificate", false); err != nil {
		return c, err
	}
	if c.SenderDomains, err = listOf(o, "SenderDomains", domainString); err != nil {
		return c, err
	}
	return c, nil
}

// senderNameString reads TlsSenderCertificateName: a string (the
// TlsCertificate value's display form) or the object ConvertTo-Json makes
// of it.
func senderNameString(n jnode) (string, error) {
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
		for _, k := range []string{"CertificateName", "Name", "Value", "Domain"} {
			if v, ok := o.get(k); ok && v.kind() == '"' {
				return senderNameString(v)
			}
		}
		return "", fmt.Errorf("%w: %s: TlsSenderCertificateName object without CertificateName/Name", ErrInvalidConfig, n.path)
	}
	return "", n.typeErr("name string")
}
