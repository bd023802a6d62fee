package certdiag

import (
	"fmt"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/exchange"
)

// ExplainSelection says in prose how Exchange would choose the certificate
// of one connector (or the internal transport certificate) and what follows
// from it. The exchange package reports the choice as data; this is its one
// rendering, used as the "explanation" evidence of connector findings and in
// error messages.
func ExplainSelection(s exchange.Selection) string {
	switch {
	case s.Kind == exchange.KindInternalTransport:
		return explainInternal(s)
	case s.Flags.NameInvalid:
		return fmt.Sprintf("%s connector %q: TlsCertificateName is malformed (%s); no certificate can match it.", s.Kind, s.Connector, s.NameError)
	case s.Kind == exchange.KindSend && s.Basis == exchange.BasisTLSName:
		return explainSendTLSName(s)
	case s.Kind == exchange.KindSend:
		return explainSendHost(s)
	}
	return explainReceive(s)
}

func explainInternal(s exchange.Selection) string {
	tp := s.LookupName
	f := s.Flags
	switch {
	case f.ThumbprintInvalid:
		return fmt.Sprintf("InternalTransportCertificateThumbprint %q is not a thumbprint; anonymous TLS between Exchange servers cannot load a certificate (events 12012/12013/12024).", tp)
	case f.NoLookupName:
		return "No InternalTransportCertificateThumbprint is configured; anonymous TLS between Exchange servers has no certificate (events 12012/12013/12024)."
	case s.Selected == "":
		return fmt.Sprintf("The internal transport certificate %s is not in the store; anonymous TLS between Exchange servers fails (events 12012/12013/12024).", tp)
	}
	c := s.Candidate(s.Selected)
	switch {
	case f.SelectedKeyless:
		return fmt.Sprintf("The internal transport certificate %s is in the store but %s; transport cannot load it (events 12012/12013/12024).", tp, keyPhrase(c))
	case f.SelectedKeyUnreadable:
		return fmt.Sprintf("The internal transport certificate %s is in the store but %s.", tp, keyPhrase(c))
	case f.SelectedExpired:
		return fmt.Sprintf("The internal transport certificate %s expired on %s (event 12015).", tp, c.NotAfter.Format(time.DateOnly))
	}
	return fmt.Sprintf("The internal transport certificate %s is in the store with a usable private key.", tp)
}

func describeCand(c *exchange.Candidate) string {
	if c == nil {
		return "(none)"
	}
	desc := fmt.Sprintf("%s (store position %d, NotBefore %s, NotAfter %s, %s", c.Thumbprint, c.StoreIndex+1,
		c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), keyPhrase(c))
	if c.SelfSigned {
		desc += ", self-signed"
	}
	return desc + ")"
}

// keyPhrase says what transport can do with a candidate's key, or why the
// candidate is not eligible.
func keyPhrase(c *exchange.Candidate) string {
	if c == nil {
		return "not in the store"
	}
	if c.Ineligible == exchange.IneligibleNotV3 {
		return fmt.Sprintf("not X.509 v3 (version %d)", c.Version)
	}
	switch c.Key {
	case exchange.KeyMissing:
		return "no private key"
	case exchange.KeyUnusable:
		if c.KeyDetail != "" {
			return "private key unusable: " + c.KeyDetail
		}
		return "private key unusable"
	case exchange.KeyUnreadable:
		return "the transport account (NETWORK SERVICE) cannot read the private key"
	}
	return "usable private key"
}

func explainSendTLSName(s exchange.Selection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Send connector %q looks its certificate up by TlsCertificateName (issuer %q, subject %q). ", s.Connector, s.Issuer, s.Subject)
	if s.Selected == "" {
		b.WriteString("No certificate in the store matches: transport answers 454 4.7.5 and logs event 12014.")
		if n := len(s.SubjectOnlyMatches); n > 0 {
			fmt.Fprintf(&b, " %d certificate(s) (%s) match the subject but have a different issuer: the certificate was probably renewed through another CA; update TlsCertificateName.", n, strings.Join(s.SubjectOnlyMatches, ", "))
		}
		return b.String()
	}
	first, latest := s.Choice(exchange.RuleFirstMatch), s.Choice(exchange.RuleLatestExpiring)
	if len(s.Candidates) == 1 {
		fmt.Fprintf(&b, "One certificate matches: %s.", describeCand(s.Candidate(first)))
	} else {
		fmt.Fprintf(&b, "%d certificates match (ambiguous). Older builds take the first in store order without checking the key: %s. ", len(s.Candidates), describeCand(s.Candidate(first)))
		if first == latest {
			b.WriteString("The latest-expiring rule picks the same certificate.")
		} else {
			fmt.Fprintf(&b, "Under the latest-expiring rule it would be %s.", describeCand(s.Candidate(latest)))
		}
	}
	if s.Flags.SelectedKeyless {
		b.WriteString(" A selected certificate has no usable private key: STARTTLS fails with NoCredentials (KB4495258).")
	}
	if s.Flags.SelectedKeyUnreadable {
		b.WriteString(" A selected certificate's key is not readable by NETWORK SERVICE: expect UnknownCredentials.")
	}
	if s.Flags.SelectedExpired {
		b.WriteString(" A selected certificate is expired.")
	}
	return b.String()
}

func basisPhrase(s exchange.Selection) string {
	switch s.Basis {
	case exchange.BasisFqdn:
		return fmt.Sprintf("its Fqdn %q", s.LookupName)
	case exchange.BasisServerFqdn:
		return fmt.Sprintf("the server FQDN %q (the connector has no Fqdn)", s.LookupName)
	case exchange.BasisTLSName:
		return fmt.Sprintf("TlsCertificateName (issuer %q, subject %q)", s.Issuer, s.Subject)
	}
	return "nothing"
}

func explainChoice(b *strings.Builder, s exchange.Selection) {
	sel := s.Candidate(s.Selected)
	fmt.Fprintf(b, "Selected %s by rule %s", describeCand(sel), s.Rule)
	if s.Flags.WildcardMatch {
		b.WriteString(", through a wildcard name")
	}
	b.WriteString(".")
	if s.Flags.FellBackToSelfSigned {
		b.WriteString(" No CA-issued certificate is eligible, so the self-signed one is used: Exchange Online rejects it (SubjectMismatch, 4.7.320/4.4.317).")
	}
	if s.Flags.SelectedExpired && sel != nil {
		fmt.Fprintf(b, " The selected certificate expired on %s", sel.NotAfter.Format(time.DateOnly))
		if s.Kind == exchange.KindReceive {
			b.WriteString(" but STARTTLS is still advertised with it (event 12016)")
		}
		b.WriteString(".")
	}
	if in := s.Ineligible(); len(in) > 0 {
		fmt.Fprintf(b, " Not eligible: %s.", ineligibleText(in))
	}
}

// ineligibleText lists refused candidates with why: "ABC… (no private key)".
func ineligibleText(in []exchange.Candidate) string {
	parts := make([]string, 0, len(in))
	for i := range in {
		parts = append(parts, fmt.Sprintf("%s (%s)", in[i].Thumbprint, keyPhrase(&in[i])))
	}
	return strings.Join(parts, ", ")
}

func explainSendHost(s exchange.Selection) string {
	var b strings.Builder
	if s.Flags.NoLookupName {
		return fmt.Sprintf("Send connector %q has no TlsCertificateName and no Fqdn, and the server FQDN is unknown: nothing to look a certificate up by.", s.Connector)
	}
	fmt.Fprintf(&b, "Send connector %q has no TlsCertificateName; transport looks its certificate up by %s. ", s.Connector, basisPhrase(s))
	if s.Selected == "" {
		if len(s.Candidates) == 0 {
			b.WriteString("No certificate names it in CN or SAN: no client certificate is presented (mutual TLS with Exchange Online fails).")
		} else {
			fmt.Fprintf(&b, "%d certificate(s) name it but none is eligible (%s): no client certificate is presented.", len(s.Candidates), ineligibleText(s.Ineligible()))
		}
		return b.String()
	}
	explainChoice(&b, s)
	return b.String()
}

func explainReceive(s exchange.Selection) string {
	var b strings.Builder
	if s.Flags.NoLookupName {
		return fmt.Sprintf("Receive connector %q has no TlsCertificateName and no Fqdn, and the server FQDN is unknown: nothing to look a certificate up by.", s.Connector)
	}
	fmt.Fprintf(&b, "Receive connector %q looks its STARTTLS certificate up by %s. ", s.Connector, basisPhrase(s))
	if s.Flags.Ambiguous {
		fmt.Fprintf(&b, "%d certificates match the TlsCertificateName (ambiguous). ", len(s.Candidates))
	}
	if s.Selected == "" {
		if len(s.Candidates) == 0 {
			b.WriteString("No certificate matches")
		} else {
			fmt.Fprintf(&b, "%d certificate(s) match but none is eligible: %s", len(s.Candidates), ineligibleText(s.Ineligible()))
		}
		b.WriteString(": STARTTLS is not advertised and event 12014 is logged.")
		if n := len(s.SubjectOnlyMatches); n > 0 {
			fmt.Fprintf(&b, " %d certificate(s) (%s) match the subject with a different issuer.", n, strings.Join(s.SubjectOnlyMatches, ", "))
		}
		return b.String()
	}
	explainChoice(&b, s)
	return b.String()
}
