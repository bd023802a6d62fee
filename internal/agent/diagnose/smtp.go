package diagnose

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// ProbeContext is what the agent knows about a probe beyond its result.
type ProbeContext struct {
	// ClientCertConnector is the send connector whose certificate the probe
	// presented (probe_send_connector), "" when none was configured.
	ClientCertConnector string
}

// SMTPProbe diagnoses one live STARTTLS probe.
func SMTPProbe(r *smtpprobe.Result, o Options) []*mxv1.Finding {
	return SMTPProbeIn(r, ProbeContext{}, o)
}

// SMTPProbeIn is SMTPProbe with the probe's context. Every failure is
// named by what the probe observed: a connect failure is SMTP_UNREACHABLE,
// a connected server that greets too slowly SMTP_SLOW_BANNER, something that
// is not SMTP SMTP_PROTOCOL_ERROR; a handshake that timed out or was cut
// before the server answered points at the network path, not at the
// certificate or SCHANNEL.
func SMTPProbeIn(r *smtpprobe.Result, pc ProbeContext, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	ep := r.Target
	ev := map[string]string{"endpoint": ep, "phase": string(r.Phase)}
	if r.RemoteAddr != "" {
		ev["remote_addr"] = r.RemoteAddr
	}
	if len(r.Banner) > 0 {
		ev["banner"] = text.Clip(strings.Join(r.Banner, " | "), 300)
	}
	if r.Err != nil {
		ev["error"] = text.Clip(r.Err.Error(), 500)
	}
	endpoint := func(code finding.Code, summary, fix string) *mxv1.Finding {
		return finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep, summary, ev, fix)
	}
	path := fmt.Sprintf("the network path between %s and %s", o.Host, ep)
	var out []*mxv1.Finding
	switch err := r.Err; {
	case err == nil:
	case errors.Is(err, smtpprobe.ErrClientCertRejected):
		out = append(out, clientCertRejected(r, pc, ev, ep))
	case errors.Is(err, smtpprobe.ErrStartTLSNotOffered):
		ev["capabilities"] = capsString(r.Capabilities)
		if masked := esmtpInspection(r, ev); masked != "" {
			out = append(out, endpoint(finding.SMTPStartTLSNotOffered,
				fmt.Sprintf("An ESMTP-inspecting firewall between %s and %s hides STARTTLS: %s", o.Host, ep, masked),
				fmt.Sprintf("The server behind %s may well offer STARTTLS; a Cisco ASA/PIX with 'inspect esmtp' overwrites it. On that firewall disable ESMTP inspection for SMTP to this server (policy-map global_policy / class inspection_default / no inspect esmtp), or allow STARTTLS in its ESMTP inspection policy, then probe again.", ep)))
			break
		}
		out = append(out, endpoint(finding.SMTPStartTLSNotOffered,
			fmt.Sprintf("%s does not offer STARTTLS (EHLO: %s)", ep, text.Clip(ev["capabilities"], 120)),
			fmt.Sprintf("On the server behind %s: Enable-ExchangeCertificate -Services SMTP for a certificate matching the connector FQDN (event 12014 names the missing name); make sure the receive connector's AuthMechanism includes Tls; disable ESMTP inspection on firewalls between.", ep)))
	case errors.Is(err, smtpprobe.ErrStartTLSRefused):
		if r.StartTLSReply != nil {
			ev["starttls_reply"] = text.Clip(r.StartTLSReply.String(), 300)
		}
		out = append(out, endpoint(finding.SMTPStartTLSNotOffered,
			fmt.Sprintf("%s advertises STARTTLS but refuses it: %s", ep, text.Clip(ev["starttls_reply"], 120)),
			fmt.Sprintf("On the server behind %s check that the certificate bound to SMTP has a usable private key (event 12014/12012 in the Application log).", ep)))
	case r.Phase == smtpprobe.PhaseHandshake || errors.Is(err, smtpprobe.ErrHandshake):
		out = append(out, handshakeFailure(r, ev, ep, path))
	case r.Phase == smtpprobe.PhaseConnect || errors.Is(err, smtpprobe.ErrConnect):
		out = append(out, endpoint(finding.SMTPUnreachable,
			fmt.Sprintf("%s unreachable: %s", ep, text.Clip(errText(err), 160)),
			fmt.Sprintf("The TCP connection to %s could not be established: check DNS, routing and firewalls on %s, and that the transport service listens.", ep, path)))
	case r.Phase == smtpprobe.PhaseBanner:
		out = append(out, bannerFailure(r, ev, ep, o))
	default:
		out = append(out, endpoint(finding.SMTPProtocolError,
			fmt.Sprintf("%s broke SMTP during %s: %s", ep, r.Phase, text.Clip(errText(err), 160)),
			fmt.Sprintf("Check what answers on %s (a proxy or ESMTP inspection in the path, or a server that is not a conforming MTA): compare the transcript with a direct session from the server itself.", ep)))
	}

	if t := r.TLS; t != nil && len(t.PeerCertificates) > 0 {
		leaf := t.PeerCertificates[0]
		tp := thumbprint.Of(leaf)
		cev := certdiag.CertEvidence(leaf, tp)
		cev["origin"] = "presented"
		cev["endpoint"] = ep
		cev["chain_length"] = fmt.Sprint(len(t.PeerCertificates))
		if t.Version != 0 {
			cev["tls_version"] = tls.VersionName(t.Version)
			cev["cipher_suite"] = t.CipherSuiteName
		}
		out = append(out, certdiag.CertValidity(leaf, tp, cev, o)...)
		if t.Verify != nil {
			out = append(out, verifyFindings(t, tp, cev, ep)...)
		}
		if t.Version != 0 && t.Version < tls.VersionTLS12 {
			out = append(out, endpoint(finding.TLS12Unsupported,
				fmt.Sprintf("%s negotiated %s: TLS 1.2 unavailable", ep, tls.VersionName(t.Version)),
				fmt.Sprintf("On the server behind %s: SCHANNEL TLS 1.2 Server and Client Enabled=1 DisabledByDefault=0; .NET SystemDefaultTlsVersions=1 and SchUseStrongCrypto=1; restart.", ep)))
		}
	}
	out = finding.Dedupe(append(versionFindings(r, ep, ev), out...)) // the version evidence first: it is the more detailed
	finding.Sort(out)
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
		fev := finding.WithKV(ev, "verify_error", text.Clip(errText(p.Err), 300))
		if code == finding.CertNameMismatch {
			fev["expected_name"] = t.ExpectName
		}
		out = append(out, finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s presented by %s: %s", tp, ep, text.Clip(errText(p.Err), 160)), fev, fix))
	}
	return out
}

// versionFindings reports what version probing proved. A version is
// accepted only when a handshake pinned to it completed, and unsupported only
// when the server refused it with an alert, or dropped the connection right
// after its ClientHello while another version was accepted on an identical
// connection. Timeouts and SMTP failures prove nothing about versions: a
// probe whose every attempt timed out claims nothing here (its main failure
// is reported as such).
func versionFindings(r *smtpprobe.Result, ep string, ev map[string]string) []*mxv1.Finding {
	if len(r.SupportedVersions) == 0 {
		return nil
	}
	var obsolete, modern, refusedModern, unknown []string
	for _, v := range r.SupportedVersions {
		switch v.Outcome {
		case smtpprobe.VersionAccepted:
			if v.Version < tls.VersionTLS12 {
				obsolete = append(obsolete, v.Name)
			} else {
				modern = append(modern, v.Name)
			}
		case smtpprobe.VersionRefused, smtpprobe.VersionDropped:
			if v.Version >= tls.VersionTLS12 {
				refusedModern = append(refusedModern, v.Name+" "+string(v.Outcome))
			}
		default:
			unknown = append(unknown, v.Name)
		}
	}
	if t := r.TLS; t != nil && t.Version >= tls.VersionTLS12 && !slices.Contains(modern, tls.VersionName(t.Version)) {
		modern = append(modern, tls.VersionName(t.Version)) // the main handshake proved it
	}
	var out []*mxv1.Finding
	vev := finding.WithKV(ev, "accepted_versions", strings.Join(append(append([]string{}, obsolete...), modern...), ","))
	if len(refusedModern) > 0 {
		vev["refused_versions"] = strings.Join(refusedModern, ",")
	}
	if len(unknown) > 0 {
		vev["unknown_versions"] = strings.Join(unknown, ",")
	}
	if len(obsolete) > 0 {
		out = append(out, finding.New(finding.TLSProtocolObsolete, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s accepts %s", ep, strings.Join(obsolete, " and ")), vev,
			fmt.Sprintf("Once all peers speak TLS 1.2, disable TLS 1.0/1.1 on the server behind %s (SCHANNEL Protocols\\TLS 1.0|1.1\\Server Enabled=0).", ep)))
	}
	if len(modern) == 0 && len(refusedModern) == 2 && len(obsolete) > 0 {
		out = append(out, finding.New(finding.TLS12Unsupported, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep,
			fmt.Sprintf("%s refuses TLS 1.2 and 1.3 (%s) but accepts %s", ep, strings.Join(refusedModern, ", "), strings.Join(obsolete, " and ")), vev,
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
