package certdiag

import (
	"fmt"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// ConnectorSubject names a connector the way Exchange's Identity does: the
// send connector's name, or SERVER\name for a receive connector. Log rows
// carry the same spelling in their connector-id column.
func ConnectorSubject(kind exchange.ConnectorKind, server, name string) string {
	if kind == exchange.KindReceive && server != "" && !strings.Contains(name, `\`) {
		return server + `\` + name
	}
	return name
}

// Connectors diagnoses an Exchange inventory against the certificate store
// transport reads (certs in store enumeration order): the simulated
// certificate choice of every connector and of the internal transport
// certificate, and connector settings that break TLS with Exchange Online.
func Connectors(inv *exchange.Config, certs []certstore.Certificate, o Options) ([]*mxv1.Finding, error) {
	o = o.WithDefaults()
	sels, err := exchange.SimulateSelection(inv, certs, exchange.SelectOptions{Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("certdiag: connectors: %w", err)
	}
	host := serverName(inv, o)
	var out []*mxv1.Finding
	keys := newKeyIndex(certs)
	for _, s := range sels {
		out = append(out, selectionFindings(inv, s, host, keys)...)
	}
	issues, err := exchange.EvaluatePosture(inv)
	if err != nil {
		return nil, fmt.Errorf("certdiag: connector posture: %w", err)
	}
	for _, p := range issues {
		if f, ok := postureFinding(inv, p, sels, host); ok {
			out = append(out, f)
		}
	}
	out = append(out, sendWithoutTLSName(inv, sels, host, keys, out)...)
	out = finding.Dedupe(out)
	finding.Sort(out)
	return out, nil
}

func serverName(inv *exchange.Config, o Options) string {
	if inv != nil && inv.Server.Fqdn != "" {
		return inv.Server.Fqdn
	}
	if inv != nil && inv.Server.Name != "" {
		return inv.Server.Name
	}
	return o.Host
}

func sendConnector(inv *exchange.Config, name string) (exchange.SendConnector, bool) {
	for _, c := range inv.SendConnectors {
		if c.Name == name {
			return c, true
		}
	}
	return exchange.SendConnector{}, false
}

// selectionEvidence is the evidence every connector finding carries.
func selectionEvidence(inv *exchange.Config, s exchange.Selection, keys keyIndex) map[string]string {
	ev := map[string]string{
		finding.EvConnector:         s.Connector,
		finding.EvConnectorKind:     string(s.Kind),
		finding.EvSelectionBasis:    string(s.Basis),
		finding.EvSelectionExplains: ExplainSelection(s),
		finding.EvCandidates:        strings.Join(s.CandidateThumbprints(), ","),
		finding.EvSelectionFlags:    strings.Join(s.Flags.Names(), ","),
	}
	if inv != nil {
		if inv.Server.Name != "" {
			ev[finding.EvServerName] = inv.Server.Name
		}
		if inv.Server.Fqdn != "" {
			ev[finding.EvServerFqdn] = inv.Server.Fqdn
		}
	}
	if s.LookupName != "" {
		ev["lookup_name"] = s.LookupName
	}
	if s.Basis == exchange.BasisTLSName {
		ev[finding.EvTLSCertName] = s.LookupName
	}
	if s.Selected != "" {
		ev[finding.EvSelected] = s.Selected
		ev[finding.EvSelectionRule] = string(s.Rule)
	}
	if len(s.ByRule) > 0 {
		var parts []string
		for _, r := range s.ByRule {
			parts = append(parts, string(r.Rule)+"="+r.Thumbprint)
		}
		ev[finding.EvSelectionByRule] = strings.Join(parts, ",")
	}
	if k := keylessChoices(s, keys); len(k) > 0 {
		ev[finding.EvKeyless] = strings.Join(k, ",")
	}
	if in := s.Ineligible(); len(in) > 0 {
		var tps, why []string
		for i := range in {
			tps = append(tps, in[i].Thumbprint)
			why = append(why, in[i].Thumbprint+"="+keyPhrase(&in[i]))
		}
		ev[finding.EvIneligible] = strings.Join(tps, ",")
		ev["ineligible_reasons"] = strings.Join(why, "; ")
	}
	if len(s.SubjectOnlyMatches) > 0 {
		ev[finding.EvSubjectOnly] = strings.Join(s.SubjectOnlyMatches, ",")
	}
	if s.Kind == exchange.KindSend {
		if c, ok := sendConnector(inv, s.Connector); ok {
			var as []string
			for _, a := range c.AddressSpaces {
				as = append(as, a.Address)
			}
			ev[finding.EvAddressSpaces] = strings.Join(as, ",")
			ev[finding.EvSmartHosts] = strings.Join(c.SmartHosts, ",")
			exo, _ := c.TargetsExchangeOnline()
			ev["targets_exchange_online"] = fmt.Sprint(exo)
		}
	}
	return ev
}

// keyIndex tells, by thumbprint, whether transport could use a certificate's
// private key (the same judgement the exchange simulation makes).
type keyIndex map[string]bool

func newKeyIndex(certs []certstore.Certificate) keyIndex {
	k := make(keyIndex, len(certs))
	for _, c := range certs {
		k[thumbprint.Normalize(c.Thumbprint)] = exchange.KeyStateOf(c).Usable()
	}
	return k
}

func (k keyIndex) usable(tp string) bool { return k[thumbprint.Normalize(tp)] }

// keylessChoices lists, in rule order, the thumbprints chosen under some rule
// whose key is missing, unusable or unreadable by the transport account.
func keylessChoices(s exchange.Selection, keys keyIndex) []string {
	chosen := []string{s.Selected}
	for _, r := range s.ByRule {
		chosen = append(chosen, r.Thumbprint)
	}
	var out []string
	for _, tp := range chosen {
		if tp == "" || slices.Contains(out, tp) || keys.usable(tp) {
			continue
		}
		out = append(out, tp)
	}
	return out
}

// intendedCertificate is the certificate the connector is meant to present:
// the selected one when its key is usable, else the candidate with a usable
// key that expires last (what the administrator enabled for SMTP).
func intendedCertificate(s exchange.Selection, keys keyIndex) string {
	if s.Selected != "" && keys.usable(s.Selected) {
		return s.Selected
	}
	best := -1
	for i, c := range s.Candidates {
		if !keys.usable(c.Thumbprint) {
			continue
		}
		if best < 0 || c.NotAfter.After(s.Candidates[best].NotAfter) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return s.Candidates[best].Thumbprint
}

func setCmd(kind exchange.ConnectorKind) string {
	if kind == exchange.KindReceive {
		return "Set-ReceiveConnector"
	}
	return "Set-SendConnector"
}

func selectionFindings(inv *exchange.Config, s exchange.Selection, host string, keys keyIndex) []*mxv1.Finding {
	if s.Kind == exchange.KindInternalTransport {
		return internalTransportFindings(inv, s, host, keys)
	}
	subject := ConnectorSubject(s.Kind, inv.Server.Name, s.Connector)
	ev := selectionEvidence(inv, s, keys)
	conn := func(code finding.Code, summary, fix string) *mxv1.Finding {
		return finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, subject, summary, ev, fix)
	}
	set := setCmd(s.Kind)
	var out []*mxv1.Finding
	f := s.Flags
	if f.NameInvalid {
		out = append(out, conn(finding.ConnectorTLSNameInvalid,
			fmt.Sprintf("%s connector %q on %s has a malformed TlsCertificateName %q", s.Kind, s.Connector, host, text.Clip(s.LookupName, 200)),
			fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; %s -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)"`, host, set, text.PSLiteral(subject))))
	}
	if f.NotFound && s.Basis == exchange.BasisTLSName && !f.NameInvalid && f.NoneEligible {
		// Matches exist; what stops transport is why each is ineligible
		// (the certificate findings explain it, rootcause.go).
		in := s.Ineligible()
		out = append(out, conn(finding.ConnectorCertNotFound,
			fmt.Sprintf("TlsCertificateName of %s connector %q on %s matches %s, none eligible: %s; transport treats it as not found (event 12014)",
				s.Kind, s.Connector, host, text.Count(len(s.Candidates), "certificate"), ineligibleText(in)),
			ineligibleFix(in, host)))
	} else if f.NotFound && s.Basis == exchange.BasisTLSName && !f.NameInvalid {
		fix := fmt.Sprintf(`On %s install the certificate named by TlsCertificateName, or point the connector at an existing one: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; %s -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)"`, host, set, text.PSLiteral(subject))
		if len(s.SubjectOnlyMatches) > 0 {
			fix = fmt.Sprintf(`Certificate %s on %s has the right subject but another issuer (renewed through a new intermediate): $c = Get-ChildItem Cert:\LocalMachine\My\%s ; %s -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)"`,
				s.SubjectOnlyMatches[0], host, s.SubjectOnlyMatches[0], set, text.PSLiteral(subject))
		}
		out = append(out, conn(finding.ConnectorCertNotFound,
			fmt.Sprintf("TlsCertificateName of %s connector %q on %s matches no certificate in the store (454 4.7.5, event 12014)", s.Kind, s.Connector, host), fix))
	}
	if f.Ambiguous {
		keep := intendedCertificate(s, keys)
		var remove []string
		for _, tp := range s.CandidateThumbprints() {
			if tp != keep {
				remove = append(remove, tp)
			}
		}
		out = append(out, conn(finding.ConnectorCertAmbiguous,
			fmt.Sprintf("TlsCertificateName of %s connector %q on %s matches %d certificates (%s); transport picks %s", s.Kind, s.Connector, host, len(s.Candidates), strings.Join(s.CandidateThumbprints(), ", "), text.OrDash(s.Selected)),
			fmt.Sprintf(`On %s keep %s and remove %s: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -in '%s' | Remove-Item ; Restart-Service MSExchangeTransport`, host, text.OrDash(keep), strings.Join(remove, ", "), strings.Join(remove, "','"))))
	}
	if f.SelectedKeyless || f.SelectedKeyUnreadable {
		keyless := keylessChoices(s, keys)
		bad := text.OrDash(strings.Join(keyless, ", "))
		fix := fmt.Sprintf(`On %s remove the certificate without a usable key: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -in '%s' | Remove-Item ; Restart-Service MSExchangeTransport ; Retry-Queue -Filter "Status -eq 'Retry'"`, host, strings.Join(keyless, "','"))
		if !f.SelectedKeyless {
			fix = fmt.Sprintf("On %s grant the transport account access to the key: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP ; Restart-Service MSExchangeTransport", host, bad)
		}
		out = append(out, conn(finding.ConnectorSelectsKeyless,
			fmt.Sprintf("%s connector %q on %s would present certificate %s, which has no usable private key (NoCredentials/UnknownCredentials)", s.Kind, s.Connector, host, bad), fix))
	}
	if s.Kind == exchange.KindReceive && f.NotFound && s.Basis != exchange.BasisTLSName {
		pev := finding.WithKV(ev, finding.EvPredicted, "true")
		summary := fmt.Sprintf("Receive connector %q on %s has no certificate for %s: it will not offer STARTTLS (event 12014)", s.Connector, host, text.OrDash(s.LookupName))
		fix := fmt.Sprintf("On %s install a CA-issued certificate whose SAN contains %s with its private key and run Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP; then set %s -Identity %s -TlsCertificateName.", host, text.OrDash(s.LookupName), set, text.PSLiteral(subject))
		if f.NoneEligible {
			in := s.Ineligible()
			summary = fmt.Sprintf("Receive connector %q on %s has %s for %s, none eligible (%s): it will not offer STARTTLS (event 12014)",
				s.Connector, host, text.Count(len(s.Candidates), "certificate"), text.OrDash(s.LookupName), ineligibleText(in))
			fix = ineligibleFix(in, host)
		}
		out = append(out, finding.New(finding.SMTPStartTLSNotOffered, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, subject, summary, pev, fix))
	}
	return out
}

// ineligibleFix repairs what made matching certificates ineligible, one
// command per certificate; nothing is installed or removed that the
// evidence does not implicate.
func ineligibleFix(in []exchange.Candidate, host string) string {
	var steps []string
	for _, c := range in {
		switch {
		case c.Ineligible == exchange.IneligibleNotV3:
			steps = append(steps, fmt.Sprintf("certificate %s is X.509 version %d: reissue it as a v3 certificate", c.Thumbprint, c.Version))
		case c.Key == exchange.KeyUnreadable:
			steps = append(steps, fmt.Sprintf("Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (grants NETWORK SERVICE read access to its key)", c.Thumbprint))
		case c.Key == exchange.KeyUnusable:
			steps = append(steps, fmt.Sprintf("re-import certificate %s with its private key from the PFX (Import-ExchangeCertificate), then Enable-ExchangeCertificate -Thumbprint %s -Services SMTP", c.Thumbprint, c.Thumbprint))
		case c.Key == exchange.KeyMissing:
			steps = append(steps, fmt.Sprintf("certificate %s has no private key: import it from the PFX with its key (Import-ExchangeCertificate), then Enable-ExchangeCertificate -Thumbprint %s -Services SMTP", c.Thumbprint, c.Thumbprint))
		}
	}
	return fmt.Sprintf("On %s make a matching certificate eligible: %s; then Restart-Service MSExchangeTransport.", host, strings.Join(steps, "; "))
}

func internalTransportFindings(inv *exchange.Config, s exchange.Selection, host string, keys keyIndex) []*mxv1.Finding {
	ev := selectionEvidence(inv, s, keys)
	subject := s.LookupName
	kind := mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE
	if subject == "" {
		subject, kind = host, mxv1.SubjectKind_SUBJECT_KIND_HOST
	}
	switch {
	case s.Flags.NotFound:
		return []*mxv1.Finding{finding.New(finding.InternalTransportCertMissing, kind, subject,
			fmt.Sprintf("Internal transport certificate %s of %s is not in the store: %s", text.OrDash(s.LookupName), host, ExplainSelection(s)), ev,
			fmt.Sprintf("On %s: New-ExchangeCertificate -Services SMTP (or Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP for a certificate with %s), then Restart-Service MSExchangeTransport.", host, host))}
	case s.Flags.SelectedKeyless || s.Flags.SelectedKeyUnreadable:
		return []*mxv1.Finding{finding.New(finding.InternalTransportCertKeyless, kind, subject,
			fmt.Sprintf("Internal transport certificate %s of %s has no usable private key", s.LookupName, host), ev,
			fmt.Sprintf("On %s: New-ExchangeCertificate -Services SMTP to replace %s (or re-import it with its key), then Restart-Service MSExchangeTransport.", host, s.LookupName))}
	}
	return nil
}

// postureCodes maps exchange's posture conditions to finding codes.
var postureCodes = map[exchange.PostureCondition]finding.Code{
	exchange.PostureNoTLSCertName:      finding.ConnectorNoTLSCertName,
	exchange.PostureWeakTLSAuth:        finding.ConnectorWeakTLSAuth,
	exchange.PostureNoTLSAuthMechanism: finding.SMTPStartTLSNotOffered,
}

// postureDetail says what a posture issue means, in one sentence.
func postureDetail(p exchange.PostureIssue) string {
	switch p.Condition {
	case exchange.PostureNoTLSCertName:
		return fmt.Sprintf("Receive connector %q is reached by Exchange Online (%s, %s) but has no TlsCertificateName: it presents whatever certificate matches its FQDN, possibly the self-signed one (450 4.7.320 SubjectMismatch).",
			p.Connector, p.Reach, p.ReachReason)
	case exchange.PostureWeakTLSAuth:
		var weak []string
		for _, w := range p.Weaknesses {
			switch w {
			case exchange.WeakRequireTLSOff:
				weak = append(weak, "RequireTLS is false")
			case exchange.WeakTLSAuthLevelUnset:
				weak = append(weak, "TlsAuthLevel is not set")
			case exchange.WeakTLSAuthLevelLow:
				weak = append(weak, "TlsAuthLevel is "+p.TLSAuthLevel)
			}
		}
		return fmt.Sprintf("Send connector %q delivers to Exchange Online (%s) but %s; hybrid needs RequireTLS $true and TlsAuthLevel DomainValidation with TlsDomain mail.protection.outlook.com.",
			p.Connector, p.TargetReason, strings.Join(weak, " and "))
	case exchange.PostureNoTLSAuthMechanism:
		return fmt.Sprintf("Receive connector %q has AuthMechanism %q without Tls: its EHLO reply never offers STARTTLS.", p.Connector, strings.Join(p.AuthMechanism, ", "))
	}
	return fmt.Sprintf("%s connector %q: %s", p.Kind, p.Connector, p.Condition)
}

func postureFinding(cfg *exchange.Config, p exchange.PostureIssue, sels []exchange.Selection, host string) (*mxv1.Finding, bool) {
	code, ok := postureCodes[p.Condition]
	if !ok {
		return nil, false
	}
	subject := ConnectorSubject(p.Kind, cfg.Server.Name, p.Connector)
	detail := postureDetail(p)
	ev := map[string]string{finding.EvConnector: p.Connector, finding.EvConnectorKind: string(p.Kind), "detail": detail, "certain": fmt.Sprint(p.Certain), "condition": string(p.Condition)}
	if e, _ := finding.Lookup(code); e.Catalog != "" {
		ev["catalog"] = e.Catalog
	}
	for _, s := range sels {
		if s.Connector == p.Connector && s.Kind == p.Kind && s.Selected != "" {
			ev[finding.EvSelected] = s.Selected
		}
	}
	summary := fmt.Sprintf("%s connector %q on %s: %s", p.Kind, p.Connector, host, detail)
	var fix string
	switch code {
	case finding.ConnectorNoTLSCertName:
		fix = fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; %s -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" with the CA-issued certificate Exchange Online expects.`, host, setCmd(p.Kind), text.PSLiteral(subject))
	case finding.ConnectorWeakTLSAuth:
		fix = fmt.Sprintf("On %s: Set-SendConnector -Identity %s -RequireTLS $true -TlsAuthLevel DomainValidation -TlsDomain mail.protection.outlook.com", host, text.PSLiteral(subject))
	case finding.SMTPStartTLSNotOffered:
		ev[finding.EvPredicted] = "true"
		fix = fmt.Sprintf("On %s: Set-ReceiveConnector -Identity %s -AuthMechanism @{Add='Tls'}", host, text.PSLiteral(subject))
	}
	return finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, subject, summary, ev, fix), true
}

// sendWithoutTLSName flags send connectors to Exchange Online without
// TlsCertificateName (hybrid mutual TLS needs it), unless posture did.
func sendWithoutTLSName(inv *exchange.Config, sels []exchange.Selection, host string, keys keyIndex, have []*mxv1.Finding) []*mxv1.Finding {
	var out []*mxv1.Finding
	for _, s := range sels {
		if s.Kind != exchange.KindSend || !s.Flags.NoTLSCertName {
			continue
		}
		c, ok := sendConnector(inv, s.Connector)
		if !ok {
			continue
		}
		exo, why := c.TargetsExchangeOnline()
		if !exo {
			continue
		}
		subject := ConnectorSubject(s.Kind, inv.Server.Name, s.Connector)
		dup := slices.ContainsFunc(have, func(f *mxv1.Finding) bool {
			return f.Code == string(finding.ConnectorNoTLSCertName) && f.Subject == subject
		})
		if dup {
			continue
		}
		ev := finding.WithKV(selectionEvidence(inv, s, keys), "detail", why)
		out = append(out, finding.New(finding.ConnectorNoTLSCertName, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, subject,
			fmt.Sprintf("Send connector %q on %s delivers to Exchange Online (%s) without TlsCertificateName; it presents %s", s.Connector, host, why, text.OrDash(s.Selected)), ev,
			fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; Set-SendConnector -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" with the certificate the hybrid configuration uses.`, host, text.PSLiteral(subject))))
	}
	return out
}

// ExpectedSent maps connector subjects (see ConnectorSubject, compared
// case-insensitively) to the thumbprint the connector is meant to present,
// for LOG_UNEXPECTED_CERT_SENT. Connectors without a determinable intended
// certificate are left out.
type ExpectedSent map[string]Expectation

// Expectation is what one connector should present.
type Expectation struct {
	Connector  string
	Kind       exchange.ConnectorKind
	Thumbprint string   // intended certificate
	Candidates []string // every certificate the lookup matched
	Selected   string   // what the simulation says transport picks
}

// Expectations computes ExpectedSent from an inventory and store.
func Expectations(inv *exchange.Config, certs []certstore.Certificate, o Options) (ExpectedSent, error) {
	o = o.WithDefaults()
	sels, err := exchange.SimulateSelection(inv, certs, exchange.SelectOptions{Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("certdiag: expectations: %w", err)
	}
	out := ExpectedSent{}
	keys := newKeyIndex(certs)
	for _, s := range sels {
		if s.Kind == exchange.KindInternalTransport {
			continue
		}
		tp := intendedCertificate(s, keys)
		if tp == "" {
			continue
		}
		subj := ConnectorSubject(s.Kind, inv.Server.Name, s.Connector)
		e := Expectation{Connector: subj, Kind: s.Kind, Thumbprint: tp, Candidates: s.CandidateThumbprints(), Selected: s.Selected}
		out[strings.ToLower(subj)] = e
		if s.Kind == exchange.KindReceive {
			out[strings.ToLower(s.Connector)] = e
		}
	}
	return out, nil
}

// Lookup finds the expectation for a log's connector-id.
func (e ExpectedSent) Lookup(connector string) (Expectation, bool) {
	if e == nil {
		return Expectation{}, false
	}
	x, ok := e[strings.ToLower(strings.TrimSpace(connector))]
	return x, ok
}
