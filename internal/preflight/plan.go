package preflight

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/text"
)

func diagnoseSubject(in Input, s exchange.Selection) string {
	return certdiag.ConnectorSubject(s.Kind, in.Config.Server.Name, s.Connector)
}

func setNameCommand(in Input, s exchange.Selection, want string) string {
	verb := "Set-SendConnector"
	if s.Kind == exchange.KindReceive {
		verb = "Set-ReceiveConnector"
	}
	return fmt.Sprintf("%s -Identity %s -TlsCertificateName %s", verb, text.PSLiteral(diagnoseSubject(in, s)), text.PSLiteral(want))
}

// hybrid reports whether a send connector of this server delivers to
// Exchange Online (the HCW owns those connectors' certificate).
func hybrid(cfg *exchange.Config) bool {
	for _, s := range cfg.SendConnectors {
		if exo, _ := s.TargetsExchangeOnline(); exo && s.Enabled {
			return true
		}
	}
	return false
}

func plan(in Input, n certstore.Certificate, replaced []certstore.Certificate, today []exchange.Selection, cs []Check) []Step {
	tp := n.Thumbprint
	file := in.NewFile
	if file == "" {
		file = "new.pfx"
	}
	server := serverName(in.Config)
	want := exchange.TLSCertificateNameFor(n.Cert).String()
	var steps []Step
	for _, c := range cs {
		if c.ID == CheckDANE && c.Status == Fail {
			var lines []string
			for _, t := range in.TLSA {
				if ee, err := dane.RecordFor(n.Cert, 3, dane.SelectorSPKI, dane.MatchingSHA256); err == nil {
					lines = append(lines, fmt.Sprintf("_25._tcp.%s. IN TLSA %s", t.Host, TLSAValue(ee)))
				}
			}
			steps = append(steps, Step{Title: "Publish the new certificate's TLSA record next to the current ones, then wait one TTL",
				Commands: dedupe(lines),
				Verify:   "dig +dnssec TLSA _25._tcp.HOST shows the new record with the ad flag; agent preflight reports the dane check as pass"})
			break
		}
	}
	imp := fmt.Sprintf("Import-ExchangeCertificate -Server %s -FileData ([System.IO.File]::ReadAllBytes(%s)) -Password (Read-Host -AsSecureString 'PFX password')", text.PSLiteral(server), text.PSLiteral(`C:\Temp\`+filepath.Base(file)))
	if !n.HasPrivateKey || in.KeySource == KeyFromRequest {
		imp = fmt.Sprintf("Import-ExchangeCertificate -Server %s -FileData ([System.IO.File]::ReadAllBytes(%s))", text.PSLiteral(server), text.PSLiteral(`C:\Temp\`+filepath.Base(file)))
	}
	steps = append(steps,
		Step{Title: "Import the new certificate on " + server,
			Commands: []string{imp},
			Verify:   fmt.Sprintf("Get-ExchangeCertificate -Server %s -Thumbprint %s | fl Thumbprint,HasPrivateKey,Status (HasPrivateKey True, Status Valid; a keyless certificate is not listed at all)", text.PSLiteral(server), text.PSLiteral(tp))},
		Step{Title: "Bind it to SMTP (grants NETWORK SERVICE read on the key); answer Yes when asked to overwrite the default SMTP certificate, which moves InternalTransportCertificateThumbprint to it",
			Commands: []string{fmt.Sprintf("Enable-ExchangeCertificate -Server %s -Thumbprint %s -Services SMTP", text.PSLiteral(server), text.PSLiteral(tp))},
			Verify: fmt.Sprintf("(Get-ExchangeCertificate -Server %s -Thumbprint %s).Services contains SMTP; (Get-TransportService %s).InternalTransportCertificateThumbprint is %s; agent check --cert-store windows:LocalMachine\\My raises no CERT_KEY_NOT_ACCESSIBLE for %s (NETWORK SERVICE can read the key)",
				text.PSLiteral(server), text.PSLiteral(tp), text.PSLiteral(server), tp, tp)})
	var sets []string
	for _, s := range today {
		if s.Kind == exchange.KindInternalTransport || s.Basis != exchange.BasisTLSName {
			continue
		}
		if tn, err := exchange.ParseTLSCertificateName(s.LookupName); err == nil {
			if ok, _ := tn.Matches(n.Cert); ok {
				continue
			}
		}
		sets = append(sets, setNameCommand(in, s, want))
	}
	if len(sets) > 0 {
		steps = append(steps, Step{Title: "Point the connectors' TlsCertificateName at the new certificate",
			Commands: sets,
			Verify:   "Get-SendConnector | fl Name,TlsCertificateName; Get-ReceiveConnector | fl Identity,TlsCertificateName show " + want})
	}
	if hybrid(in.Config) {
		steps = append(steps, Step{Title: "Hybrid: run the Hybrid Configuration Wizard and choose the new certificate on the Secure Mail (transport certificate) page (\"Update Secure Mail Certificate\"); every Edge server that sends to Exchange Online must hold a certificate with the same issuer and subject",
			Commands: []string{"Get-SendConnector 'Outbound to Office 365' | fl TlsCertificateName", "Get-InboundConnector | fl Name,TlsSenderCertificateName  # in Exchange Online PowerShell"},
			Verify:   "the HCW finishes without errors and the connectors show " + want + "; the Exchange Online inbound connector's TlsSenderCertificateName is in the new certificate's SAN"})
	}
	steps = append(steps, Step{Title: "Restart transport so the cached certificate choice is dropped",
		Commands: []string{"Restart-Service MSExchangeTransport", "Restart-Service MSExchangeFrontEndTransport  # Mailbox servers only"},
		Verify:   fmt.Sprintf("the SMTP send protocol log's next 'Sending certificate' block shows thumbprint %s; agent check reports no LOG_UNEXPECTED_CERT_SENT", tp)})
	if len(replaced) > 0 {
		var rm []string
		for _, r := range replaced {
			rm = append(rm, fmt.Sprintf("Get-ChildItem %s | Where-Object Thumbprint -eq %s | Remove-Item", storePath(r), text.PSLiteral(r.Thumbprint)))
		}
		steps = append(steps, Step{Title: "After mail has flowed with the new certificate, remove the old one(s) (keyless ones are invisible to Get-ExchangeCertificate, so go through the store)",
			Commands: append(rm, "Restart-Service MSExchangeTransport"),
			Verify:   "Get-ChildItem " + storePath(replaced[0]) + " | ? Subject -eq '" + strings.ReplaceAll(exchange.TLSCertificateNameFor(n.Cert).Subject, "'", "''") + "' lists only " + tp + "; agent check raises no CERT_DUPLICATE_IDENTITY"})
	}
	for _, c := range cs {
		if c.ID == CheckDANE && (c.Status == Fail || c.Status == Pass) {
			steps = append(steps, Step{Title: "Remove the old certificate's TLSA records once the new certificate is in service",
				Commands: []string{"remove the _25._tcp TLSA records that do not match the new certificate (agent preflight lists the new values)"},
				Verify:   "agent check with mail_domains set reports DANE authenticated for each MX"})
			break
		}
	}
	return steps
}

// storePath is the PowerShell path of the store a certificate was read
// from: the Windows store itself (windows:LocalMachine\X), else
// Cert:\LocalMachine\My, the store transport reads and the one snapshots
// and exports are taken of. A store name PowerShell would split is quoted.
func storePath(c certstore.Certificate) string {
	if rest, ok := strings.CutPrefix(c.Source, certstore.SchemeWindows+":"); ok {
		if loc, err := certstore.ParseWindowsLocation(rest); err == nil {
			p := "Cert:\\" + loc.String()
			if strings.ContainsFunc(p, func(r rune) bool {
				return !(r == ':' || r == '\\' || r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r))
			}) {
				return text.PSLiteral(p)
			}
			return p
		}
	}
	return `Cert:\LocalMachine\My`
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
