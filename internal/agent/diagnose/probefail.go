package diagnose

import (
	"errors"
	"fmt"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// Probe failures, each named by what the probe observed (smtp.go decides
// which applies).

// handshakeFailure: STARTTLS was accepted and the handshake did not
// complete. What the server sent back decides what is implicated.
func handshakeFailure(r *smtpprobe.Result, ev map[string]string, ep, path string) *mxv1.Finding {
	t := r.TLS
	if t == nil {
		t = &smtpprobe.TLSInfo{}
	}
	ev = finding.WithKV(ev, "server_tls_bytes", fmt.Sprint(t.ServerBytes))
	err := r.Err
	mk := func(summary, fix string) *mxv1.Finding {
		return finding.New(finding.TLSHandshakeFailed, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep, summary, ev, fix)
	}
	switch {
	case errors.Is(err, smtpprobe.ErrTimeout):
		ev["cause"] = "timeout"
		f := mk(fmt.Sprintf("TLS handshake with %s did not complete in time (the server sent %d bytes after the ClientHello)", ep, t.ServerBytes),
			fmt.Sprintf("Nothing here implicates the certificate or SCHANNEL: the handshake timed out. Check %s (a firewall or IPS holding TLS, packet loss) and the server's load, then probe again with a longer probe timeout.", path))
		f.Severity = mxv1.Severity_SEVERITY_WARNING
		return f
	case t.Alert != "":
		ev["alert"] = t.Alert
		if strings.Contains(t.Alert, "protocol version") {
			return mk(fmt.Sprintf("%s refused the TLS versions offered: %s", ep, t.Alert),
				fmt.Sprintf("The server behind %s and this agent share no TLS version: enable TLS 1.2 on it (SCHANNEL Protocols\\TLS 1.2\\Server Enabled=1 DisabledByDefault=0).", ep))
		}
		return mk(fmt.Sprintf("%s aborted the TLS handshake with the alert %q", ep, t.Alert),
			fmt.Sprintf("The server behind %s refused the handshake itself: check on it the certificate bound to SMTP (private key present and readable by NETWORK SERVICE: Application log events 12014/12012) and its SCHANNEL settings (System log, source Schannel, 36874/36888).", ep))
	case errors.Is(err, smtpprobe.ErrClosed) && t.ServerBytes == 0:
		ev["cause"] = "closed-before-server-hello"
		return mk(fmt.Sprintf("The connection to %s was closed or reset right after the ClientHello, before any TLS data came back", ep),
			fmt.Sprintf("First check the device in %s: a firewall or IPS with SMTP inspection or TLS interception lets STARTTLS through and cuts the TLS that follows. Only if the path is direct, check on the server that SCHANNEL can use its SMTP certificate (System log Schannel 36874/36888, Application log 12014).", path))
	case t.ServerBytes > 0 && len(t.PeerCertificates) == 0:
		ev["cause"] = "not-tls"
		return mk(fmt.Sprintf("%s answered STARTTLS with 220 and then sent data that is not a TLS handshake: %s", ep, text.Clip(errText(err), 160)),
			fmt.Sprintf("Something in %s (a proxy, an ESMTP-inspecting firewall) or a broken server answers in place of TLS: compare with a session opened on the server itself.", path))
	}
	return mk(fmt.Sprintf("TLS handshake with %s failed: %s", ep, text.Clip(errText(err), 160)),
		fmt.Sprintf("Check the certificate bound to SMTP on the server behind %s (private key present and readable by NETWORK SERVICE) and the device in %s.", ep, path))
}

// bannerFailure: TCP connected, the greeting did not come as SMTP.
func bannerFailure(r *smtpprobe.Result, ev map[string]string, ep string, o Options) *mxv1.Finding {
	err := r.Err
	ev = finding.WithKV(ev, "banner_bytes", fmt.Sprint(r.BannerBytes))
	switch {
	case errors.Is(err, smtpprobe.ErrTimeout):
		summary := fmt.Sprintf("%s accepted the connection but sent no greeting within the probe's deadline", ep)
		if r.BannerBytes > 0 {
			summary = fmt.Sprintf("%s sent only %d bytes of its greeting within the probe's deadline (it trickles its banner)", ep, r.BannerBytes)
		}
		return finding.New(finding.SMTPSlowBanner, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep, summary, ev,
			fmt.Sprintf("TCP connected, so DNS, routing and firewalls are not the problem. A tarpit or greeting delay (anti-spam), connection throttling for %s's address, or an overloaded server holds the banner: check the server behind %s, and raise the probe timeout if it is merely slow.", o.Host, ep))
	case errors.Is(err, smtpprobe.ErrRejected):
		return finding.New(finding.SMTPProtocolError, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s refused the session in its greeting: %s", ep, text.Clip(strings.Join(r.Banner, " "), 160)), ev,
			fmt.Sprintf("The server behind %s does not accept SMTP from %s: check its connection filtering (IP block lists, connection limits, receive connector RemoteIPRanges).", ep, o.Host))
	case errors.Is(err, smtpprobe.ErrClosed):
		return finding.New(finding.SMTPProtocolError, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s accepted the connection and closed it without a complete greeting (%d bytes)", ep, r.BannerBytes), ev,
			fmt.Sprintf("Check what listens on %s and whether it drops %s (connection limits, IP filtering), or whether a device in the path closes SMTP sessions.", ep, o.Host))
	}
	what := "a greeting that is not SMTP"
	if service := serviceOf(errText(err)); service != "" {
		what = "the greeting of " + service
		ev["service"] = service
	} else if errors.Is(err, smtpprobe.ErrLineTooLong) {
		what = "a greeting line longer than SMTP allows"
	}
	return finding.New(finding.SMTPProtocolError, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
		fmt.Sprintf("%s answered with %s: %s", ep, what, text.Clip(errText(err), 160)), ev,
		fmt.Sprintf("TCP connected, but what answers on %s is not a conforming SMTP server: check the port, NAT/port forwarding to the right host, and whether another service replaced the MTA there.", ep))
}

// serviceOf recognises well-known non-SMTP greetings in an error text.
func serviceOf(s string) string {
	switch {
	case strings.Contains(s, "SSH-"):
		return "an SSH server"
	case strings.Contains(s, "HTTP/"), strings.Contains(s, "<html"), strings.Contains(s, "<!DOCTYPE"):
		return "an HTTP server"
	case strings.Contains(s, "+OK"):
		return "a POP3 server"
	case strings.Contains(s, "* OK"):
		return "an IMAP server"
	}
	return ""
}

// esmtpInspection names the firewall masking when the EHLO reply or the
// banner shows it; "" otherwise.
func esmtpInspection(r *smtpprobe.Result, ev map[string]string) string {
	if len(r.MaskedCapabilities) == 0 && !r.MaskedBanner {
		return ""
	}
	ev["esmtp_inspection"] = "cisco-asa"
	var parts []string
	if len(r.MaskedCapabilities) > 0 {
		ev["masked_capabilities"] = strings.Join(r.MaskedCapabilities, ",")
		parts = append(parts, fmt.Sprintf("EHLO lists %s where STARTTLS and other extensions belong", strings.Join(r.MaskedCapabilities, ", ")))
	}
	if r.MaskedBanner {
		parts = append(parts, "the banner is masked with asterisks")
	}
	return strings.Join(parts, "; ") + " (Cisco ASA/PIX 'inspect esmtp')"
}

// clientCertRejected: the partner refused the session because of the
// client certificate, by alert or in SMTP after the handshake.
func clientCertRejected(r *smtpprobe.Result, pc ProbeContext, ev map[string]string, ep string) *mxv1.Finding {
	t := r.TLS
	if t == nil {
		t = &smtpprobe.TLSInfo{}
	}
	how := ""
	switch {
	case t.ClientCertReply != nil:
		ev["reply"] = text.Clip(t.ClientCertReply.String(), 300)
		how = fmt.Sprintf("answered %q after the handshake", text.Clip(t.ClientCertReply.String(), 120))
	case t.Alert != "":
		ev["alert"] = t.Alert
		how = fmt.Sprintf("aborted the handshake with the alert %q", t.Alert)
	default:
		how = "refused it"
	}
	if len(t.ClientCertAcceptableCAs) > 0 {
		ev["acceptable_cas"] = text.Clip(strings.Join(t.ClientCertAcceptableCAs, "; "), 500)
	}
	c := t.ClientCertificate
	if c == nil {
		f := finding.New(finding.TLSClientCertRejected, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s requires a client certificate and %s; the agent presented none", ep, how), ev,
			fmt.Sprintf("This probe did not present a certificate, so nothing is known about the one transport sends: set probe_send_connector to the send connector that delivers to %s so the probe presents that connector's certificate.", ep))
		f.Severity = mxv1.Severity_SEVERITY_WARNING
		return f
	}
	tp := thumbprint.Of(c)
	ev["client_cert_thumbprint"] = tp
	ev["client_cert_subject"] = c.Subject.String()
	ev["client_cert_issuer"] = c.Issuer.String()
	ev["client_cert_dns_names"] = strings.Join(c.DNSNames, ",")
	as := "the probe's client certificate"
	if pc.ClientCertConnector != "" {
		ev["client_cert_connector"] = pc.ClientCertConnector
		as = fmt.Sprintf("send connector %q's certificate", pc.ClientCertConnector)
	}
	trusted := "a CA it trusts"
	if v := ev["acceptable_cas"]; v != "" {
		trusted = "one of the CAs it asked for (" + text.Clip(v, 200) + ")"
	}
	return finding.New(finding.TLSClientCertRejected, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
		fmt.Sprintf("%s rejected %s %s (%s, issued by %s): it %s", ep, as, tp, certdiag.DisplayName(c), c.Issuer.String(), how), ev,
		fmt.Sprintf("The partner behind %s does not accept certificate %s: either it does not chain to %s, or its names (%s) are not those the partner requires. For Exchange Online the inbound connector's TlsSenderCertificateName must match a SAN of %s and RestrictDomainsToCertificate ties the sending domain to it (check with Get-InboundConnector | fl TlsSenderCertificateName,RestrictDomainsToCertificate); fix the certificate or the partner's connector, not this server's TLS settings.",
			ep, tp, trusted, text.OrDash(strings.Join(c.DNSNames, ", ")), tp))
}
