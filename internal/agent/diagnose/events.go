package diagnose

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Evidence keys of event findings (rootcause.go joins on them).
const (
	evEventIDs    = "event_ids"
	evEventDomain = "domain"
	evEventFQDN   = "fqdn"
	evEventThumb  = "thumbprint"
)

var thumbprintRE = regexp.MustCompile(`\b[0-9A-Fa-f]{40}\b`)

// eventGroup aggregates the events behind one finding.
type eventGroup struct {
	code        finding.Code
	kind        mxv1.SubjectKind
	subject     string
	first, last time.Time
	count       int
	ids         []string
	providers   []string
	computers   []string
	records     []string
	ev          map[string]string
}

func (g *eventGroup) add(e eventlog.Event) {
	g.count++
	if g.first.IsZero() || (!e.Time.IsZero() && e.Time.Before(g.first)) {
		g.first = e.Time
	}
	g.last = later(g.last, e.Time)
	for _, p := range []struct {
		list *[]string
		v    string
	}{{&g.ids, strconv.Itoa(int(e.ID))}, {&g.providers, e.Provider}, {&g.computers, e.Computer}} {
		if p.v != "" && !slices.Contains(*p.list, p.v) {
			*p.list = append(*p.list, p.v)
		}
	}
	if len(g.records) < maxGroupSamples && e.RecordID != 0 {
		g.records = append(g.records, strconv.FormatUint(e.RecordID, 10))
	}
}

func (g *eventGroup) evidence() map[string]string {
	ev := map[string]string{
		"origin":     "event-log",
		evEventIDs:   strings.Join(g.ids, ","),
		"providers":  strings.Join(g.providers, ","),
		"computers":  strings.Join(g.computers, ","),
		"count":      strconv.Itoa(g.count),
		"first_seen": fmtTime(g.first),
		"last_seen":  fmtTime(g.last),
		"record_ids": strings.Join(g.records, ","),
	}
	for k, v := range g.ev {
		ev[k] = text.Clip(v, 500)
	}
	return ev
}

func (g *eventGroup) when() string {
	if g.count == 1 {
		return "at " + fmtTime(g.last)
	}
	return fmt.Sprintf("%d times from %s to %s", g.count, fmtTime(g.first), fmtTime(g.last))
}

// Events turns Exchange transport and Schannel events into findings. Each
// finding aggregates the events that name the same connector, FQDN,
// certificate or alert; Link ties them to the certificate and connector
// findings that explain them.
func Events(evs []eventlog.Event, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	groups := map[[2]string]*eventGroup{}
	var order []*eventGroup
	get := func(code finding.Code, kind mxv1.SubjectKind, subject string, ev map[string]string) *eventGroup {
		k := [2]string{string(code), strings.ToLower(subject)}
		g := groups[k]
		if g == nil {
			g = &eventGroup{code: code, kind: kind, subject: subject, ev: ev}
			groups[k] = g
			order = append(order, g)
		}
		return g
	}
	for _, e := range evs {
		if !eventlog.Wanted(e) {
			continue
		}
		switch e.ID {
		case eventlog.IDStartTLSCertNotFound:
			domain, connector, fqdn := strings.TrimSpace(e.Arg(1)), strings.TrimSpace(e.Arg(2)), strings.TrimSpace(e.Arg(3))
			subject := connector
			if subject == "" {
				subject = text.OrDash(fqdn)
			}
			get(finding.EventStartTLSCertNotFound, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, subject,
				map[string]string{evEventDomain: domain, finding.EvConnector: connector, evEventFQDN: fqdn}).add(e)
		case eventlog.IDStartTLSCertExpired:
			fqdn := strings.TrimSpace(e.Arg(1))
			get(finding.EventStartTLSCertExpired, mxv1.SubjectKind_SUBJECT_KIND_DOMAIN, text.OrDash(fqdn), map[string]string{evEventFQDN: fqdn}).add(e)
		case eventlog.IDInternalCertExpired:
			tp := eventThumbprint(e, 1)
			get(finding.EventInternalCertExpired, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, text.OrDash(tp), map[string]string{evEventThumb: tp}).add(e)
		case eventlog.IDInternalCertNotLoaded, eventlog.IDCertNotLoaded, eventlog.IDInternalCertEphemeral:
			tp := eventThumbprint(e, 1)
			ev := map[string]string{evEventThumb: tp}
			if e.ID == eventlog.IDInternalCertEphemeral {
				ev["ephemeral_thumbprint"] = eventThumbprint(e, 2)
			}
			g := get(finding.EventCertLoadFailed, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, text.OrDash(tp), ev)
			if v := ev["ephemeral_thumbprint"]; v != "" {
				g.ev["ephemeral_thumbprint"] = v
			}
			g.add(e)
		case eventlog.IDInternalCertNotInAD:
			host := cmp.Or(e.Computer, o.Host)
			get(finding.EventInternalCertNotInAD, mxv1.SubjectKind_SUBJECT_KIND_HOST, host, map[string]string{}).add(e)
		case eventlog.IDSchannelAlertReceived, eventlog.IDSchannelAlertGenerated:
			code := strings.TrimSpace(cmp.Or(e.Named("AlertDesc"), e.Arg(1)))
			dir := "received"
			if e.ID == eventlog.IDSchannelAlertGenerated {
				dir = "sent"
			}
			g := get(finding.EventSchannelAlert, mxv1.SubjectKind_SUBJECT_KIND_HOST, dir+":"+code,
				map[string]string{"direction": dir, "alert_code": code, "alert": tlsAlertName(code)})
			if st := strings.TrimSpace(cmp.Or(e.Named("ErrorState"), e.Arg(2))); dir == "sent" && st != "" {
				g.ev["error_states"] = addToList(g.ev["error_states"], st)
			}
			g.add(e)
		case eventlog.IDSchannelNoCommonCipher:
			proto := strings.TrimSpace(cmp.Or(e.Named("Protocol"), e.Arg(1)))
			get(finding.EventSchannelNoCipher, mxv1.SubjectKind_SUBJECT_KIND_HOST, text.OrDash(proto), map[string]string{"protocol": proto}).add(e)
		}
	}
	var out []*mxv1.Finding
	for _, g := range order {
		out = append(out, eventFinding(g, o))
	}
	finding.Sort(out)
	return out
}

func addToList(list, v string) string {
	parts := splitList(list)
	if !slices.Contains(parts, v) && len(parts) < 16 {
		parts = append(parts, v)
	}
	return strings.Join(parts, ",")
}

// eventThumbprint is the certificate thumbprint the i-th insertion string
// carries (upper case), or "" when it holds none.
func eventThumbprint(e eventlog.Event, i int) string {
	return strings.ToUpper(thumbprintRE.FindString(e.Arg(i)))
}

func eventFinding(g *eventGroup, o Options) *mxv1.Finding {
	ev := g.evidence()
	src := strings.Join(g.providers, "/")
	host := o.Host
	switch g.code {
	case finding.EventStartTLSCertNotFound:
		domain, connector, fqdn := ev[evEventDomain], ev[finding.EvConnector], ev[evEventFQDN]
		summary := fmt.Sprintf("%s event 12014 %s: no eligible certificate for %q in LocalMachine\\My, so connector %q (FQDN %s) on %s does not offer STARTTLS",
			src, g.when(), domain, connector, text.OrDash(fqdn), host)
		fix := fmt.Sprintf(`On %s: Get-ChildItem Cert:\LocalMachine\My | Where-Object { $_.DnsNameList.Unicode -contains '%s' } | Format-List Thumbprint,NotAfter,HasPrivateKey shows the candidates; make the right one eligible with Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP (its key must be readable by NETWORK SERVICE and its chain valid), or install a certificate for %s; see the linked findings.`, host, domain, domain)
		if strings.HasPrefix(domain, "<I>") {
			summary = fmt.Sprintf("%s event 12014 %s: TlsCertificateName %s of connector %q on %s matches no eligible certificate, so it does not offer STARTTLS", src, g.when(), domain, connector, host)
			fix = fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; Set-ReceiveConnector -Identity %q -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" with a certificate that exists, has a usable key and a valid chain (or make the one it names eligible: Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP); Restart-Service MSExchangeFrontEndTransport, MSExchangeTransport.`, host, connector)
		}
		return finding.New(g.code, g.kind, g.subject, summary, ev, fix)
	case finding.EventStartTLSCertExpired:
		return finding.New(g.code, g.kind, g.subject,
			fmt.Sprintf("%s event 12016 %s: the STARTTLS certificate for %s on %s has expired (transport still presents it)", src, g.when(), g.subject, host), ev,
			fmt.Sprintf("On %s: renew the certificate for %s (New-ExchangeCertificate or the CA), Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, remove the expired one once nothing references it; for hybrid re-run the Hybrid Configuration Wizard's \"Update Secure Mail Certificate\" step.", host, g.subject))
	case finding.EventInternalCertExpired:
		return finding.New(g.code, g.kind, g.subject,
			fmt.Sprintf("%s event 12015 %s: internal transport certificate %s on %s has expired", src, g.when(), g.subject, host), ev,
			fmt.Sprintf("On %s: New-ExchangeCertificate -Services SMTP (replaces the internal transport certificate %s), then Restart-Service MSExchangeTransport.", host, g.subject))
	case finding.EventCertLoadFailed:
		summary := fmt.Sprintf("%s events %s %s: transport on %s cannot load certificate %s from LocalMachine\\My", src, ev[evEventIDs], g.when(), host, g.subject)
		if e := ev["ephemeral_thumbprint"]; e != "" {
			summary += fmt.Sprintf(" and uses an ephemeral self-signed certificate %s instead", e)
		}
		return finding.New(g.code, g.kind, g.subject, summary, ev,
			fmt.Sprintf(`On %s: if Get-ChildItem Cert:\LocalMachine\My\%s finds it, Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (its key must be usable by NETWORK SERVICE; see the linked findings); if not, restore it with Import-ExchangeCertificate or New-ExchangeCertificate -Services SMTP; then Restart-Service MSExchangeTransport.`, host, g.subject, g.subject))
	case finding.EventInternalCertNotInAD:
		return finding.New(g.code, g.kind, g.subject,
			fmt.Sprintf("%s event 12012 %s: the internal transport certificate of %s could not be read from Active Directory", src, g.when(), g.subject), ev,
			fmt.Sprintf("On %s: Get-ExchangeCertificate | Where-Object { $_.Services -match 'SMTP' } shows the local SMTP certificate; Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP publishes it to Active Directory (New-ExchangeCertificate -Services SMTP if there is none); then wait for replication.", g.subject))
	case finding.EventSchannelAlert:
		return finding.New(g.code, g.kind, g.subject, schannelAlertSummary(g, ev, host), ev, schannelAlertFix(ev["alert_code"], ev["direction"], host))
	case finding.EventSchannelNoCipher:
		return finding.New(g.code, g.kind, g.subject,
			fmt.Sprintf("Schannel event 36874 %s on %s: a %s client offered no cipher suite this server supports (Schannel names neither the client nor the service)", g.when(), host, text.OrDash(g.subject)), ev,
			fmt.Sprintf("On %s: find the client connecting at those times (SMTP receive protocol log, IIS log, or a trace), then upgrade it or enable a still-secure suite it supports (Get-TlsCipherSuite lists this server's); do not re-enable TLS 1.0/1.1 or weak suites without need.", host))
	}
	return nil
}

func schannelAlertSummary(g *eventGroup, ev map[string]string, host string) string {
	code, name := ev["alert_code"], ev["alert"]
	if ev["direction"] == "received" {
		return fmt.Sprintf("Schannel event 36887 %s on %s: a remote endpoint sent fatal TLS alert %s (%s); Schannel serves every TLS service here and names neither the service nor the peer", g.when(), host, code, name)
	}
	states := ""
	if s := ev["error_states"]; s != "" {
		states = ", Schannel error state " + s
	}
	return fmt.Sprintf("Schannel event 36888 %s on %s: this server sent fatal TLS alert %s (%s%s) to a remote endpoint; Schannel serves every TLS service here and names neither the service nor the peer", g.when(), host, code, name, states)
}

func schannelAlertFix(code, dir, host string) string {
	find := fmt.Sprintf("Match the event times on %s with the SMTP protocol logs (TLS negotiation failed) to see whether mail is involved and which peer;", host)
	switch code {
	case "40", "70", "71":
		return find + fmt.Sprintf(" the alert says the two ends share no protocol version or cipher suite: on %s keep TLS 1.2 enabled (SCHANNEL Protocols\\TLS 1.2\\Client and \\Server Enabled=1 DisabledByDefault=0; .NET SystemDefaultTlsVersions=1 SchUseStrongCrypto=1) and ask the peer's administrator to do the same.", host)
	case "42", "43", "44", "45", "46", "48":
		if dir == "received" {
			return find + " the peer refused a certificate this server presented (bad, revoked, expired or from an unknown CA): check the certificate the connector presents and install its intermediate CA certificates (see the certificate findings)."
		}
		return find + " this server refused the peer's certificate: check the peer's certificate chain and that its CA is trusted here."
	}
	return find + " look up the alert in RFC 8446 section 6 and compare with the peer's logs."
}

// tlsAlertNames are the TLS alert descriptions by code (RFC 8446 section 6,
// and the SSL 3.0 / TLS 1.0 codes Schannel still reports).
var tlsAlertNames = map[string]string{
	"0": "close_notify", "10": "unexpected_message", "20": "bad_record_mac", "21": "decryption_failed", "22": "record_overflow",
	"30": "decompression_failure", "40": "handshake_failure", "41": "no_certificate", "42": "bad_certificate",
	"43": "unsupported_certificate", "44": "certificate_revoked", "45": "certificate_expired", "46": "certificate_unknown",
	"47": "illegal_parameter", "48": "unknown_ca", "49": "access_denied", "50": "decode_error", "51": "decrypt_error",
	"60": "export_restriction", "70": "protocol_version", "71": "insufficient_security", "80": "internal_error",
	"86": "inappropriate_fallback", "90": "user_canceled", "100": "no_renegotiation", "109": "missing_extension",
	"110": "unsupported_extension", "112": "unrecognized_name", "113": "bad_certificate_status_response",
	"115": "unknown_psk_identity", "116": "certificate_required", "120": "no_application_protocol",
}

// tlsAlertName names a TLS alert description.
func tlsAlertName(code string) string {
	if n, ok := tlsAlertNames[code]; ok {
		return n
	}
	return "unknown alert"
}
