package diagnose

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/mtasts"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// MailDomainEvidence is what the mail_domain check read about one domain.
type MailDomainEvidence struct {
	Domain   string
	Resolver string
	MX       resolve.Answer
	Hosts    []MXEvidence
	// MTASTSTXT, TLSRPTTXT: the TXT answers at _mta-sts and _smtp._tls.
	MTASTSTXT, TLSRPTTXT resolve.Answer
	MTASTSRecord         mtasts.Record
	MTASTSRecordErr      error
	Policy               *mtasts.Fetched
	PolicyErr            error
	TLSRPTErr            error
}

// MXEvidence is one MX host.
type MXEvidence struct {
	Host       string
	Preference uint16
	A, AAAA    resolve.Answer
	TLSA       resolve.Answer
	Records    []dane.Record
	// Chain is what the MX presented on STARTTLS (nil: probe failed).
	Chain    []*x509.Certificate
	ProbeErr error
	// Next is the newest renewal of the presented leaf found with its key
	// in a store this agent reads (dane.Successor; nil: none).
	Next *NextCertificate
}

// NextCertificate is a renewed certificate waiting to replace the one an
// MX presents.
type NextCertificate struct {
	Cert *x509.Certificate
	// Intermediates: what the server may send above it (the presented
	// chain's and the store's CA certificates).
	Intermediates []*x509.Certificate
	// Source is the store it was read from.
	Source string
}

// MailDomain turns the evidence into findings (docs/outside-in.md).
func MailDomain(ev *MailDomainEvidence, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	d := ev.Domain
	var out []*mxv1.Finding
	dom := func(code finding.Code, subject, summary string, e map[string]string, fix string) *mxv1.Finding {
		if e == nil {
			e = map[string]string{}
		}
		e["domain"], e["resolver"] = d, ev.Resolver
		f := finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_DOMAIN, subject, summary, e, fix)
		out = append(out, f)
		return f
	}
	all := []resolve.Answer{ev.MX, ev.MTASTSTXT, ev.TLSRPTTXT}
	for _, h := range ev.Hosts {
		all = append(all, h.A, h.AAAA, h.TLSA)
	}
	if v, known := resolve.Validates(all...); known && !v {
		dom(finding.DNSResolverNotValidating, ev.Resolver, fmt.Sprintf("Resolver %s returned signed answers for %s without validating them", ev.Resolver, d), nil,
			fmt.Sprintf("Set dns_resolver to a validating resolver; until then mxprobe cannot tell whether %s's DNSSEC and DANE work.", d))
	}
	lookup := func(a resolve.Answer) bool {
		switch {
		case a.Status == resolve.Bogus:
			dom(finding.DNSSECBogus, strings.TrimSuffix(a.Name, "."), fmt.Sprintf("DNSSEC validation fails for %s %s: validating senders cannot resolve it", strings.TrimSuffix(a.Name, "."), typeName(a.Type)),
				map[string]string{"rrtype": typeName(a.Type), "error": a.Err.Error(), "ede": a.EDE},
				fmt.Sprintf("Re-sign the zone of %s (or fix its DS at the parent), then check: delv @%s %s %s.", strings.TrimSuffix(a.Name, "."), ev.Resolver, strings.TrimSuffix(a.Name, "."), typeName(a.Type)))
			return false
		case a.Err != nil:
			dom(finding.DNSLookupFailed, strings.TrimSuffix(a.Name, ".")+" "+typeName(a.Type), fmt.Sprintf("%s %s lookup failed: %v", strings.TrimSuffix(a.Name, "."), typeName(a.Type), a.Err),
				map[string]string{"rrtype": typeName(a.Type), "error": a.Err.Error()}, "Check that the resolver answers and the domain's name servers respond.")
			return false
		}
		return true
	}
	if lookup(ev.MX) && ev.MX.Empty() {
		dom(finding.MailDomainNoMX, d, fmt.Sprintf("%s publishes no MX record", d), map[string]string{"dnssec": string(ev.MX.Status)},
			fmt.Sprintf("Publish the MX records of %s.", d))
	}
	for _, h := range ev.Hosts {
		ep := h.Host + ":25"
		mxf := func(code finding.Code, summary string, e map[string]string, fix string) *mxv1.Finding {
			e["domain"], e["mx"], e["endpoint"], e["preference"], e["origin"] = d, h.Host, ep, fmt.Sprint(h.Preference), "dns"
			e["mx_dnssec"], e["tlsa_dnssec"] = string(ev.MX.Status), string(h.TLSA.Status)
			f := finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, ep, summary, e, fix)
			out = append(out, f)
			return f
		}
		okA, okAAAA := lookup(h.A), lookup(h.AAAA)
		if okA && okAAAA && h.A.Empty() && h.AAAA.Empty() {
			mxf(finding.MXNoAddress, fmt.Sprintf("MX %s of %s has no A or AAAA record", h.Host, d), map[string]string{}, fmt.Sprintf("Publish the A/AAAA record of %s or remove the MX record naming it.", h.Host))
		}
		// unchecked: a renewal is waiting but whether the TLSA set will
		// match it cannot be told from this evidence.
		unchecked := func(why string) {
			if h.Next == nil {
				return
			}
			nx := h.Next.Cert
			mxf(finding.DANENextCertUnchecked, fmt.Sprintf("Renewed certificate %s for %s is in %s, but whether _25._tcp.%s TLSA will match it was not checked: %s", thumbprint.Of(nx), h.Host, h.Next.Source, h.Host, why),
				map[string]string{"next_thumbprint": thumbprint.Of(nx), "next_source": h.Next.Source, "expected_tlsa": expected(nx), "not_checked": why},
				fmt.Sprintf("Before switching %s to %s, check that _25._tcp.%s publishes a DNSSEC-signed record for it (e.g. %s) through a validating resolver: delv TLSA _25._tcp.%s.", h.Host, thumbprint.Of(nx), h.Host, expected(nx), h.Host))
		}
		tlsaRead := lookup(h.TLSA)
		if !tlsaRead {
			unchecked("the TLSA lookup failed (" + errString(h.TLSA.Err) + ")")
		}
		if !tlsaRead || len(h.Records) == 0 {
			continue
		}
		recs := make([]string, 0, len(h.Records))
		for _, r := range h.Records {
			recs = append(recs, r.String())
		}
		base := map[string]string{"tlsa": strings.Join(recs, " | ")}
		if h.TLSA.Status != resolve.Secure || ev.MX.Status != resolve.Secure {
			if h.TLSA.Status == resolve.Unvalidated {
				unchecked("resolver " + ev.Resolver + " does not validate DNSSEC, so the TLSA answer is not known to be authentic")
			} else {
				mxf(finding.DANETLSAUnsigned, fmt.Sprintf("TLSA records for %s are not DNSSEC-validated (MX %s, TLSA %s): senders ignore them", h.Host, ev.MX.Status, h.TLSA.Status),
					base, fmt.Sprintf("Sign the zone of %s (and of %s's MX records) and publish the DS at the parent, or remove _25._tcp.%s TLSA if DANE is not wanted.", h.Host, d, h.Host))
			}
			continue
		}
		if h.Chain == nil {
			e := map[string]string{"tlsa": base["tlsa"], "probe_error": errString(h.ProbeErr)}
			mxf(finding.DANEStartTLSFailed, fmt.Sprintf("%s publishes signed TLSA records but STARTTLS to it failed: %v", h.Host, h.ProbeErr), e,
				fmt.Sprintf("Make %s offer STARTTLS with its certificate; DANE senders (Exchange Online: 4.7.321) defer until it does.", h.Host))
			continue
		}
		res := dane.MatchChain(h.Records, h.Chain, dane.Options{Names: []string{h.Host}, Now: o.Now})
		if res.NoUsable() {
			mxf(finding.DANETLSAUnusable, fmt.Sprintf("TLSA records for %s are all unusable for SMTP: %v", h.Host, res.Unusable[0].Reason), base,
				fmt.Sprintf("Replace _25._tcp.%s TLSA with DANE-EE: %s", h.Host, expected(h.Chain[0])))
			continue
		}
		if res.Authenticated() && h.Next != nil {
			nextMismatch(h, res.Matched[0].Record, base["tlsa"], o, mxf)
		}
		if !res.Authenticated() {
			e := map[string]string{"tlsa": base["tlsa"], "presented_thumbprint": thumbprint.Of(h.Chain[0]), "presented_subject": h.Chain[0].Subject.String(),
				"expected_tlsa": expected(h.Chain[0]), "reason": res.Failed[0].Reason}
			mxf(finding.DANETLSAMismatch, fmt.Sprintf("TLSA records for %s match no certificate it presents (leaf %s): DANE senders refuse it (4.7.323 tlsa-invalid)", h.Host, thumbprint.Of(h.Chain[0])), e,
				fmt.Sprintf("Publish _25._tcp.%s. IN TLSA %s for the certificate %s presents now (thumbprint %s) next to the old record, or bind the certificate the records name.",
					h.Host, expected(h.Chain[0]), h.Host, thumbprint.Of(h.Chain[0])))
		}
	}
	// MTA-STS.
	switch {
	case errors.Is(ev.MTASTSRecordErr, mtasts.ErrNoRecord):
		dom(finding.MTASTSNoPolicy, d, fmt.Sprintf("%s publishes no MTA-STS policy", d), nil, fmt.Sprintf("Publish _mta-sts.%s TXT \"v=STSv1; id=...\" and https://mta-sts.%s/.well-known/mta-sts.txt (start with mode: testing).", d, d))
	case ev.MTASTSRecordErr != nil:
		if lookup(ev.MTASTSTXT) {
			dom(finding.MTASTSRecordInvalid, d, fmt.Sprintf("_mta-sts.%s: %v", d, ev.MTASTSRecordErr), map[string]string{"record": ev.MTASTSRecord.Raw, "error": ev.MTASTSRecordErr.Error()},
				fmt.Sprintf("Publish exactly one _mta-sts.%s TXT record of the form v=STSv1; id=20261201T000000.", d))
		}
	case errors.Is(ev.PolicyErr, mtasts.ErrWebPKI):
		e := map[string]string{"url": ev.Policy.URL, "error": ev.PolicyErr.Error()}
		if len(ev.Policy.Chain) > 0 {
			e["not_after"], e["thumbprint"] = ev.Policy.Chain[0].NotAfter.UTC().Format("2006-01-02T15:04:05Z"), thumbprint.Of(ev.Policy.Chain[0])
		}
		dom(finding.MTASTSPolicyWebPKIInvalid, "mta-sts."+d, fmt.Sprintf("The certificate of mta-sts.%s does not verify: %v", d, ev.PolicyErr), e,
			fmt.Sprintf("Renew or fix the certificate of mta-sts.%s (it must carry that name and chain to a public root).", d))
	case errors.Is(ev.PolicyErr, mtasts.ErrPolicyInvalid):
		dom(finding.MTASTSPolicyInvalid, "mta-sts."+d, fmt.Sprintf("MTA-STS policy of %s is invalid: %v", d, ev.PolicyErr), map[string]string{"error": ev.PolicyErr.Error()},
			fmt.Sprintf("Fix https://mta-sts.%s/.well-known/mta-sts.txt (version: STSv1, mode, mx, max_age) and change the id in _mta-sts.%s.", d, d))
	case ev.PolicyErr != nil:
		dom(finding.MTASTSPolicyFetchFailed, "mta-sts."+d, fmt.Sprintf("MTA-STS policy of %s cannot be fetched: %v", d, ev.PolicyErr), map[string]string{"error": ev.PolicyErr.Error()},
			fmt.Sprintf("Serve https://mta-sts.%s/.well-known/mta-sts.txt (HTTP 200, text/plain, no redirect).", d))
	case ev.Policy != nil && ev.Policy.Policy != nil && ev.Policy.Policy.Mode != mtasts.ModeNone:
		p := ev.Policy.Policy
		for _, h := range ev.Hosts {
			if !p.Covers(h.Host) {
				f := finding.New(finding.MTASTSMXNotCovered, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, h.Host+":25",
					fmt.Sprintf("MX %s of %s matches no mx: pattern of its MTA-STS policy (mode %s: %s)", h.Host, d, p.Mode, strings.Join(p.MX, ", ")),
					map[string]string{"domain": d, "mx": h.Host, "endpoint": h.Host + ":25", "mode": string(p.Mode), "mx_patterns": strings.Join(p.MX, ","), "origin": "dns"},
					fmt.Sprintf("Add \"mx: %s\" to https://mta-sts.%s/.well-known/mta-sts.txt and change the id in _mta-sts.%s.", h.Host, d, d))
				if p.Mode == mtasts.ModeEnforce {
					f.Severity = mxv1.Severity_SEVERITY_CRITICAL
				} else {
					f.Severity = mxv1.Severity_SEVERITY_WARNING
				}
				out = append(out, f)
			}
			if len(h.Chain) == 0 {
				continue
			}
			var uncovered []string
			for _, n := range h.Chain[0].DNSNames {
				if !strings.HasPrefix(n, "*.") && mtasts.Match(p.MX, n) == "" {
					uncovered = append(uncovered, n)
				}
			}
			if len(uncovered) > 0 {
				out = append(out, finding.New(finding.MTASTSCertNameNotCovered, mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT, h.Host+":25",
					fmt.Sprintf("The certificate of MX %s carries %s, which no mx: pattern of %s's policy matches", h.Host, strings.Join(uncovered, ", "), d),
					map[string]string{"domain": d, "mx": h.Host, "names": strings.Join(uncovered, ","), "mx_patterns": strings.Join(p.MX, ","), "origin": "dns"},
					fmt.Sprintf("If any of %s will be an MX of %s, add it as an mx: line to the policy (and change the id).", strings.Join(uncovered, ", "), d)))
			}
		}
	}
	// TLS-RPT.
	switch {
	case errors.Is(ev.TLSRPTErr, tlsrpt.ErrNoRecord):
		dom(finding.TLSRPTRecordMissing, d, fmt.Sprintf("%s publishes no TLS-RPT record: senders' TLS failures reach nobody", d), nil,
			fmt.Sprintf("Publish _smtp._tls.%s TXT \"v=TLSRPTv1; rua=https://CONTROLLER/v1/tlsrpt\" (or rua=mailto:).", d))
	case ev.TLSRPTErr != nil && lookup(ev.TLSRPTTXT):
		dom(finding.TLSRPTRecordInvalid, d, fmt.Sprintf("_smtp._tls.%s: %v", d, ev.TLSRPTErr), map[string]string{"error": ev.TLSRPTErr.Error()},
			fmt.Sprintf("Publish exactly one _smtp._tls.%s TXT record v=TLSRPTv1; rua=mailto:ADDRESS or rua=https://HOST/PATH.", d))
	}
	out = finding.Dedupe(out)
	finding.Sort(out)
	return out
}

// nextMismatch raises DANE_TLSA_NEXT_MISMATCH when the validated TLSA set
// that authenticates the presented certificate (by current) will not
// authenticate the renewal waiting in the store (dane.MatchNext: the rule
// agent preflight --new-cert applies too).
func nextMismatch(h MXEvidence, current dane.Record, tlsa string, o Options, mxf func(finding.Code, string, map[string]string, string) *mxv1.Finding) {
	nx := h.Next.Cert
	if _, ok := dane.MatchNext(h.Records, nx, h.Next.Intermediates, dane.Options{Names: []string{h.Host}, Now: o.Now}); ok {
		return
	}
	cur := h.Chain[0]
	want := expected(nx)
	e := map[string]string{"tlsa": tlsa, "presented_thumbprint": thumbprint.Of(cur), "matching_tlsa": current.String(),
		"next_thumbprint": thumbprint.Of(nx), "next_subject": nx.Subject.String(), "next_not_before": nx.NotBefore.UTC().Format(time.RFC3339),
		"next_source": h.Next.Source, "expected_tlsa": want}
	mxf(finding.DANETLSANextMismatch, fmt.Sprintf("Rollover will break DANE for %s: its TLSA records match the certificate it presents (%s) but not the renewed certificate %s waiting in %s", h.Host, thumbprint.Of(cur), thumbprint.Of(nx), h.Next.Source), e,
		fmt.Sprintf("Publish a TLSA record for the next key before switching: _25._tcp.%s. IN TLSA %s (DANE-EE, SHA-256 of the public key of %s), next to the current record %s; wait at least the TLSA record's TTL, then switch %s to %s (Enable-ExchangeCertificate -Thumbprint %s -Services SMTP). Keep the current record until the switch is done.",
			h.Host, want, thumbprint.Of(nx), current.String(), h.Host, thumbprint.Of(nx), thumbprint.Of(nx)))
}

func expected(c *x509.Certificate) string {
	r, err := dane.RecordFor(c, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchingSHA256)
	if err != nil {
		return ""
	}
	return r.String()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func typeName(t uint16) string {
	return map[uint16]string{1: "A", 28: "AAAA", 15: "MX", 16: "TXT", 52: "TLSA"}[t]
}
