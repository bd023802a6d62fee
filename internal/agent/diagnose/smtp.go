package diagnose

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// SMTPProbe diagnoses one live STARTTLS probe.
func SMTPProbe(r *smtpprobe.Result, o Options) []*mxv1.Finding {
	o = o.withDefaults()
	ep := r.Target
	ev := map[string]string{"endpoint": ep, "phase": string(r.Phase)}
	if r.RemoteAddr != "" {
		ev["remote_addr"] = r.RemoteAddr
	}
	if len(r.Banner) > 0 {
		ev["banner"] = clip(strings.Join(r.Banner, " | "), 300)
	}
	if r.Err != nil {
		ev["error"] = clip(r.Err.Error(), 500)
	}
	endpoint := func(code finding.Code, summary, fix string) *mxv1.Finding {
		return newFinding(code, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep, summary, ev, fix)
	}
	var out []*mxv1.Finding
	switch err := r.Err; {
	case err == nil:
	case errors.Is(err, smtpprobe.ErrClientCertRejected):
		out = append(out, endpoint(finding.TLSClientCertRejected,
			fmt.Sprintf("%s rejected the client certificate presented during STARTTLS", ep),
			fmt.Sprintf("Check which certificate the send connector presents to %s and that its SAN matches the partner's connector (Exchange Online: TlsSenderCertificateName).", ep)))
	case errors.Is(err, smtpprobe.ErrStartTLSNotOffered):
		ev["capabilities"] = capsString(r.Capabilities)
		out = append(out, endpoint(finding.SMTPStartTLSNotOffered,
			fmt.Sprintf("%s does not offer STARTTLS (EHLO: %s)", ep, clip(ev["capabilities"], 120)),
			fmt.Sprintf("On the server behind %s: Enable-ExchangeCertificate -Services SMTP for a certificate matching the connector FQDN (event 12014 names the missing name); make sure the receive connector's AuthMechanism includes Tls; disable ESMTP inspection on firewalls between.", ep)))
	case errors.Is(err, smtpprobe.ErrStartTLSRefused):
		if r.StartTLSReply != nil {
			ev["starttls_reply"] = clip(r.StartTLSReply.String(), 300)
		}
		out = append(out, endpoint(finding.SMTPStartTLSNotOffered,
			fmt.Sprintf("%s advertises STARTTLS but refuses it: %s", ep, clip(ev["starttls_reply"], 120)),
			fmt.Sprintf("On the server behind %s check that the certificate bound to SMTP has a usable private key (event 12014/12012 in the Application log).", ep)))
	case errors.Is(err, smtpprobe.ErrHandshake), r.Phase == smtpprobe.PhaseHandshake:
		if r.TLS != nil && r.TLS.Alert != "" {
			ev["alert"] = r.TLS.Alert
		}
		out = append(out, endpoint(finding.TLSHandshakeFailed,
			fmt.Sprintf("TLS handshake with %s failed: %s", ep, clip(errText(err), 160)),
			fmt.Sprintf("Check the certificate bound to SMTP on the server behind %s (private key present and readable by NETWORK SERVICE) and its SCHANNEL TLS 1.2 settings.", ep)))
	case r.Phase == smtpprobe.PhaseConnect, errors.Is(err, smtpprobe.ErrConnect), errors.Is(err, smtpprobe.ErrNoBanner),
		errors.Is(err, smtpprobe.ErrTimeout) && r.Phase == smtpprobe.PhaseBanner:
		out = append(out, endpoint(finding.SMTPUnreachable,
			fmt.Sprintf("%s unreachable: %s", ep, clip(errText(err), 160)),
			fmt.Sprintf("Check DNS, routing and firewalls from this agent to %s, and that the transport service listens.", ep)))
	default:
		out = append(out, endpoint(finding.SMTPProtocolError,
			fmt.Sprintf("%s broke SMTP during %s: %s", ep, r.Phase, clip(errText(err), 160)),
			fmt.Sprintf("Check what answers on %s (proxy, ESMTP inspection, a non-SMTP service).", ep)))
	}

	if t := r.TLS; t != nil && len(t.PeerCertificates) > 0 {
		leaf := t.PeerCertificates[0]
		tp := finding.Thumbprint(leaf)
		cev := certEvidence(leaf, tp)
		cev["origin"] = "presented"
		cev["endpoint"] = ep
		cev["chain_length"] = fmt.Sprint(len(t.PeerCertificates))
		if t.Version != 0 {
			cev["tls_version"] = tls.VersionName(t.Version)
			cev["cipher_suite"] = t.CipherSuiteName
		}
		out = append(out, certValidity(leaf, tp, cev, o)...)
		if t.Verify != nil {
			out = append(out, verifyFindings(t, tp, cev, ep)...)
		}
		if t.Version != 0 && t.Version < tls.VersionTLS12 {
			out = append(out, endpoint(finding.TLS12Unsupported,
				fmt.Sprintf("%s negotiated %s: TLS 1.2 unavailable", ep, tls.VersionName(t.Version)),
				fmt.Sprintf("On the server behind %s: SCHANNEL TLS 1.2 Server and Client Enabled=1 DisabledByDefault=0; .NET SystemDefaultTlsVersions=1 and SchUseStrongCrypto=1; restart.", ep)))
		}
	}
	out = dedupe(append(out, versionFindings(r, ep, ev)...))
	sortFindings(out)
	return out
}

func verifyFindings(t *smtpprobe.TLSInfo, tp string, ev map[string]string, ep string) []*mxv1.Finding {
	var out []*mxv1.Finding
	seen := map[finding.Code]bool{}
	for _, p := range t.Verify.Problems {
		var code finding.Code
		var fix string
		switch p.Kind {
		case smtpprobe.VerifyIncompleteChain:
			code, fix = finding.CertChainIncomplete, fmt.Sprintf("Install the intermediate CA certificate(s) of %s in LocalMachine\\CA on the server behind %s, then restart MSExchangeTransport so it sends the full chain.", tp, ep)
		case smtpprobe.VerifyUnknownAuthority:
			code, fix = finding.CertUntrusted, fmt.Sprintf("Certificate %s on %s chains to an untrusted root: use a public CA for hybrid/Internet mail, or distribute the root to the peers that must trust it.", tp, ep)
		case smtpprobe.VerifyNameMismatch:
			code, fix = finding.CertNameMismatch, fmt.Sprintf("Certificate %s on %s does not contain %s: issue one whose SAN includes it, or align the receive connector's Fqdn/TlsCertificateName.", tp, ep, t.ExpectName)
		case smtpprobe.VerifyBadUsage, smtpprobe.VerifyOther:
			code, fix = finding.CertUntrusted, fmt.Sprintf("Certificate %s on %s failed verification (%v); reissue it for server authentication from a trusted CA.", tp, ep, p.Err)
		default:
			// expired, not-yet-valid, self-signed, weak key/signature are
			// found by certValidity from the certificate itself.
			continue
		}
		if seen[code] {
			continue
		}
		seen[code] = true
		fev := withKV(ev, "verify_error", clip(errText(p.Err), 300))
		if code == finding.CertNameMismatch {
			fev["expected_name"] = t.ExpectName
		}
		out = append(out, newFinding(code, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s presented by %s: %s", tp, ep, clip(errText(p.Err), 160)), fev, fix))
	}
	return out
}

func versionFindings(r *smtpprobe.Result, ep string, ev map[string]string) []*mxv1.Finding {
	if len(r.SupportedVersions) == 0 {
		return nil
	}
	var obsolete, modern []string
	known := false
	for _, v := range r.SupportedVersions {
		if v.Err != nil && !errors.Is(v.Err, smtpprobe.ErrHandshake) {
			continue // SMTP failed before TLS: support unknown
		}
		known = true
		if !v.Supported {
			continue
		}
		if v.Version < tls.VersionTLS12 {
			obsolete = append(obsolete, v.Name)
		} else {
			modern = append(modern, v.Name)
		}
	}
	if !known {
		return nil
	}
	var out []*mxv1.Finding
	vev := withKV(ev, "accepted_versions", strings.Join(append(append([]string{}, obsolete...), modern...), ","))
	if len(obsolete) > 0 {
		out = append(out, newFinding(finding.TLSProtocolObsolete, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s accepts %s", ep, strings.Join(obsolete, " and ")), vev,
			fmt.Sprintf("Once all peers speak TLS 1.2, disable TLS 1.0/1.1 on the server behind %s (SCHANNEL Protocols\\TLS 1.0|1.1\\Server Enabled=0).", ep)))
	}
	if len(modern) == 0 && r.Err == nil || len(modern) == 0 && len(obsolete) > 0 {
		out = append(out, newFinding(finding.TLS12Unsupported, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s accepts neither TLS 1.2 nor 1.3", ep), vev,
			fmt.Sprintf("On the server behind %s: SCHANNEL TLS 1.2 Server and Client Enabled=1 DisabledByDefault=0; .NET SystemDefaultTlsVersions=1 and SchUseStrongCrypto=1; restart.", ep)))
	}
	return out
}

func capsString(cs smtpprobe.Capabilities) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, strings.TrimSpace(c.Keyword+" "+strings.Join(c.Params, " ")))
	}
	return strings.Join(parts, ",")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// clip shortens s to at most n bytes plus "...", never inside a UTF-8
// sequence (a cut rune would make the protobuf message unmarshalable).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
