package preflight

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// The names and policies a renewal must satisfy that do not live in the
// store: Exchange Online's TlsSenderCertificateName (from the inventory's
// inbound connectors, or an override) and the mail domains' MTA-STS
// policies (read by the caller). Each check says where its input came
// from; an input that could not be read is "not checked", never a pass.

// inventorySource names the inventory's inbound connectors as a source.
const inventorySource = "InboundConnectors (Get-InboundConnector export in the inventory)"

func inboundWhere(in Input) string {
	if in.InboundSource != "" {
		return in.InboundSource
	}
	return inventorySource
}

// senderNames are the TlsSenderCertificateName values to check: the
// override when given, else the enabled OnPremises (or untyped) inbound
// connectors of the inventory. known is false when neither says anything.
func senderNames(in Input) (names []SenderName, known bool) {
	if in.SenderNames != nil {
		return in.SenderNames, true
	}
	if in.Config.InboundConnectors == nil {
		return nil, false
	}
	for _, c := range in.Config.InboundConnectors {
		if !c.Enabled || strings.TrimSpace(c.TlsSenderCertificateName) == "" || !forOnPremises(c) {
			continue
		}
		names = append(names, SenderName{Connector: c.Name, Value: strings.TrimSpace(c.TlsSenderCertificateName), Origin: FromInventory, Where: inboundWhere(in)})
	}
	return names, true
}

// forOnPremises: a Partner connector's TlsSenderCertificateName names a
// partner organisation's certificate, not this server's.
func forOnPremises(c exchange.InboundConnector) bool {
	return c.ConnectorType == "" || strings.EqualFold(c.ConnectorType, "OnPremises")
}

func originText(o Origin, where string) string {
	if where == "" {
		return string(o)
	}
	return string(o) + ": " + where
}

func senderNameChecks(in Input, n certstore.Certificate, replaced []certstore.Certificate) []Check {
	names, known := senderNames(in)
	switch {
	case !known && hybrid(in.Config):
		return []Check{{ID: CheckNames, Status: NotChecked,
			Summary: "not checked: Exchange Online inbound connector TlsSenderCertificateName (a send connector of this server delivers to Exchange Online, but the inventory holds no Get-InboundConnector export and no value was given)",
			Detail:  "export Get-InboundConnector | Export-Clixml (Exchange Online PowerShell) and add it to the inventory or give it to agent preflight with --inbound-connectors, or give the value (Get-InboundConnector | fl Name,TlsSenderCertificateName)"}}
	case !known:
		return nil
	case len(names) == 0:
		if !hybrid(in.Config) {
			return nil
		}
		return []Check{{ID: CheckNames, Status: Info, Summary: "no enabled OnPremises Exchange Online inbound connector with a TlsSenderCertificateName in the inventory: nothing to match"}}
	}
	var out []Check
	certNames := exchange.CertificateNames(n.Cert)
	for _, s := range names {
		what := "Exchange Online inbound connector"
		if s.Connector != "" {
			what += " " + s.Connector
		}
		what += " TlsSenderCertificateName " + s.Value + " (" + originText(s.Origin, s.Where) + ")"
		if slices.ContainsFunc(certNames, func(c string) bool { return exchange.CoversSenderName(s.Value, c) }) {
			out = append(out, Check{ID: CheckNames, Status: Pass, Summary: what + " is covered"})
			continue
		}
		if wild := wildcardCovering(certNames, s.Value); wild != "" {
			out = append(out, Check{ID: CheckNames, Status: Warn,
				Summary: what + " is matched only by the wildcard " + wild + " of the new certificate: whether Exchange Online accepts a wildcard for a host value is not known here",
				Detail:  "to be sure, set the inbound connector's value to " + wild + " (Set-InboundConnector -TlsSenderCertificateName) or put the host name in the SAN"})
			continue
		}
		oldToo := false
		for _, r := range replaced {
			if slices.ContainsFunc(exchange.CertificateNames(r.Cert), func(c string) bool { return exchange.CoversSenderName(s.Value, c) }) {
				oldToo = true
			}
		}
		summary := what + " is not in the new certificate's names: mail to Exchange Online would be rejected (550 5.7.51 TenantInboundAttribution, catalog F)"
		if !oldToo && len(replaced) > 0 {
			summary += "; the certificate it replaces does not carry it either (check whether mail to Exchange Online is rejected today)"
		}
		out = append(out, Check{ID: CheckNames, Status: Fail, Summary: summary,
			Detail: "reissue with that SAN, or change the inbound connector (Set-InboundConnector -TlsSenderCertificateName) before switching"})
	}
	return out
}

// wildcardCovering is a wildcard name of the certificate that covers host
// by the usual one-label rule.
func wildcardCovering(certNames []string, host string) string {
	for _, c := range certNames {
		if strings.HasPrefix(c, "*.") && mxMatches(c, host) {
			return c
		}
	}
	return ""
}

func mtastsChecks(in Input, n certstore.Certificate, replaced []certstore.Certificate) []Check {
	if in.MTASTS == nil {
		return []Check{{ID: CheckNames, Status: NotChecked,
			Summary: "not checked: MTA-STS mx: patterns (no mail domains configured to fetch policies for, and no patterns given)"}}
	}
	var out []Check
	for _, p := range in.MTASTS {
		who := "MTA-STS policy"
		if p.Domain != "" {
			who += " of " + p.Domain
		}
		who += " (" + originText(p.Origin, p.Where) + ")"
		switch {
		case p.Err != "":
			out = append(out, Check{ID: CheckNames, Status: NotChecked, Summary: "not checked: " + who + " could not be read: " + p.Err})
			continue
		case p.NoPolicy:
			out = append(out, Check{ID: CheckNames, Status: Info, Summary: p.Domain + " publishes no MTA-STS policy (no _mta-sts record): nothing to match"})
			continue
		case p.Mode == "none":
			out = append(out, Check{ID: CheckNames, Status: Info, Summary: who + " is in mode none: senders do not enforce it"})
			continue
		}
		if pat, name := matchMX(p.MX, n); pat != "" {
			out = append(out, Check{ID: CheckNames, Status: Pass, Summary: fmt.Sprintf("%s: mx: %s is matched by %s of the new certificate", who, pat, name)})
			continue
		}
		oldPat := ""
		for _, r := range replaced {
			if pat, _ := matchMX(p.MX, r); pat != "" {
				oldPat = pat
			}
		}
		pats := "mx: " + strings.Join(p.MX, ", mx: ")
		switch {
		case oldPat != "" && p.Mode == "enforce":
			out = append(out, Check{ID: CheckNames, Status: Fail,
				Summary: fmt.Sprintf("%s (enforce): the certificate it replaces matches mx: %s, no name of the new one matches %s: senders enforcing MTA-STS stop delivering to this server after switching (TLS-RPT certificate-host-mismatch)", who, oldPat, pats),
				Detail:  "reissue with the MX host name this server answers for in the SAN"})
		case oldPat != "":
			out = append(out, Check{ID: CheckNames, Status: Warn,
				Summary: fmt.Sprintf("%s (mode %s): the certificate it replaces matches mx: %s, no name of the new one matches %s", who, modeText(p.Mode), oldPat, pats),
				Detail:  "senders validate the MX host name against the certificate; reissue with the MX host name in the SAN before the policy is enforced"})
		default:
			out = append(out, Check{ID: CheckNames, Status: Warn,
				Summary: fmt.Sprintf("%s: no name of the new certificate (nor of the one it replaces) matches %s", who, pats),
				Detail:  "if this server is an MX of the domain, senders enforcing MTA-STS refuse its certificate; make sure the MX host name is in the SAN"})
		}
	}
	return out
}

func modeText(m string) string {
	if m == "" {
		return "unknown"
	}
	return m
}

// matchMX is the first pattern a name of the certificate matches.
func matchMX(patterns []string, c certstore.Certificate) (pattern, name string) {
	for _, p := range patterns {
		for _, nm := range exchange.CertificateNames(c.Cert) {
			if mxMatches(p, nm) {
				return p, nm
			}
		}
	}
	return "", ""
}

// inputs lists where the compared names and policies came from.
func inputs(in Input) []InputSource {
	out := []InputSource{}
	names, known := senderNames(in)
	switch {
	case known:
		for _, s := range names {
			out = append(out, InputSource{Input: "TlsSenderCertificateName " + s.Connector, Origin: s.Origin, Where: s.Where, Value: s.Value})
		}
		if len(names) == 0 {
			out = append(out, InputSource{Input: "TlsSenderCertificateName", Origin: FromInventory, Where: inboundWhere(in), Value: "(none applies to this server)"})
		}
	case hybrid(in.Config):
		out = append(out, InputSource{Input: "TlsSenderCertificateName", Error: "not in the inventory (no Get-InboundConnector export) and not given"})
	}
	if in.MTASTS == nil {
		out = append(out, InputSource{Input: "MTA-STS policies", Error: "no mail domains configured and no patterns given"})
	}
	for _, p := range in.MTASTS {
		s := InputSource{Input: "MTA-STS " + p.Domain, Origin: p.Origin, Where: p.Where, Error: p.Err}
		switch {
		case p.NoPolicy:
			s.Value = "no policy"
		case p.Err == "":
			s.Value = "mode " + modeText(p.Mode) + ", mx: " + strings.Join(p.MX, ", mx: ")
		}
		out = append(out, s)
	}
	for _, c := range in.ChainStores {
		s := InputSource{Input: "chain store", Origin: Fetched, Where: c.URI, Error: c.Err}
		if c.Err == "" {
			s.Value = fmt.Sprintf("%d certificate(s)", len(c.Certs))
		}
		out = append(out, s)
	}
	if in.TLSA == nil {
		out = append(out, InputSource{Input: "TLSA", Error: "no mail domains configured"})
	}
	for _, t := range in.TLSA {
		s := InputSource{Input: "TLSA _25._tcp." + t.Host, Origin: Fetched, Where: "DNS", Error: t.Err}
		if t.Err == "" {
			s.Value = fmt.Sprintf("%d record(s)", len(t.Records))
		}
		out = append(out, s)
	}
	return out
}
