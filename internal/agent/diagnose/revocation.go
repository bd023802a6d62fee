package diagnose

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/revocation"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// crlReasons names RFC 5280 CRLReason codes.
var crlReasons = map[int]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
	5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
}

// Revocation turns the revocation check of the chain an endpoint presented
// into findings: CERT_REVOKED for a certificate an OCSP response or CRL
// lists as revoked, CERT_REVOCATION_UNAVAILABLE (naming every URL tried and
// why it failed) when none answered. A certificate that names no source, or
// whose issuer is not in the chain, yields nothing: that is not evidence.
func Revocation(results []revocation.Result, endpoint string, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	var out []*mxv1.Finding
	for _, r := range results {
		ev := certdiag.CertEvidence(r.Cert, r.Thumbprint)
		ev["origin"] = "presented"
		ev["endpoint"] = endpoint
		ev["chain_depth"] = fmt.Sprint(r.Depth)
		ev["revocation_status"] = string(r.Status)
		var tried []string
		for _, a := range r.Attempts {
			where := a.Method
			if a.URL != "" {
				where += " " + a.URL
			}
			if a.Err != "" {
				where += ": " + text.Clip(a.Err, 200)
			}
			if a.Cached {
				where += " (cached)"
			}
			tried = append(tried, where)
		}
		if len(tried) > 0 {
			ev["attempts"] = strings.Join(tried, "; ")
		}
		role := "certificate"
		if r.Depth > 0 {
			role = fmt.Sprintf("intermediate CA certificate (chain position %d)", r.Depth)
		}
		switch r.Status {
		case revocation.Revoked:
			ev["method"], ev["url"] = r.Method, r.URL
			ev["revoked_at"] = fmtTime(r.RevokedAt)
			reason := crlReasons[r.Reason]
			if reason == "" {
				reason = fmt.Sprint(r.Reason)
			}
			ev["reason"] = reason
			source := "the OCSP response stapled to the handshake"
			switch r.Method {
			case revocation.MethodOCSP:
				source = "OCSP responder " + r.URL
			case revocation.MethodCRL:
				source = "CRL " + r.URL
			}
			fix := fmt.Sprintf("On the server behind %s install a new certificate from the CA in place of %s (re-key or re-issue), Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, point TlsCertificateName at it, then remove %s.", endpoint, r.Thumbprint, r.Thumbprint)
			if r.Depth > 0 {
				fix = fmt.Sprintf("The issuing CA certificate %s in the chain %s presents is revoked: install the CA's current intermediate in LocalMachine\\CA on that server, re-issue the server certificate under it if the CA says so, and remove %s from LocalMachine\\CA.", r.Thumbprint, endpoint, r.Thumbprint)
			}
			out = append(out, finding.New(finding.CertRevoked, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, r.Thumbprint,
				fmt.Sprintf("The %s %s (%s) presented by %s is revoked since %s (%s), says %s", role, r.Thumbprint, r.Cert.Subject.String(), endpoint, r.RevokedAt.UTC().Format(time.RFC3339), reason, source),
				ev, fix))
		case revocation.Unavailable:
			var urls, hosts []string
			for _, a := range r.Attempts {
				if a.URL == "" {
					continue
				}
				urls = append(urls, a.URL)
				if u, err := url.Parse(a.URL); err == nil && u.Host != "" {
					hosts = append(hosts, u.Host)
				}
			}
			ev["urls"] = strings.Join(urls, ",")
			out = append(out, finding.New(finding.CertRevocationUnav, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, r.Thumbprint,
				fmt.Sprintf("Revocation of the %s %s presented by %s cannot be checked from %s: %s", role, r.Thumbprint, endpoint, o.Host, text.OrDash(ev["attempts"])),
				ev, fmt.Sprintf("Allow HTTP from %s (and from the Exchange server, if this agent runs elsewhere) to %s, directly or through the proxy transport uses (netsh winhttp show proxy); partners that require a revocation check fail TLS while it is unreachable. Then probe again.", o.Host, text.OrDash(strings.Join(hosts, ", ")))))
		}
	}
	return out
}
