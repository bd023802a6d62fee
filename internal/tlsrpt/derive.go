package tlsrpt

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// AgentID is the virtual agent TLS-RPT findings are stored under. It holds
// a space, which agent ids never do (the controller refuses them), so no
// agent can stand in for the reports or overwrite their results.
const AgentID = "tls-rpt reports"

// Check is the check name of the results derived from reports.
const Check = "tlsrpt"

// DefaultWindow is how much reporting the findings sum: the reports of the
// 24 hours up to the newest report for the domain.
const DefaultWindow = 24 * time.Hour

// Derived is what a set of reports says about some policy domains.
type Derived struct {
	// Results of the virtual agent: one per (policy domain, receiving MX)
	// and one per policy domain; clean ones (no failures in the window) are
	// observations too.
	Results []*mxv1.CheckResult
}

// MXTarget is the result target for a receiving MX of a policy domain.
func MXTarget(domain, mx string) string { return "tlsrpt://" + domain + "/" + mx }

// DomainTarget is the result target for a policy domain's own failures.
func DomainTarget(domain string) string { return "tlsrpt://" + domain }

// Derive is DeriveExpiring with DefaultExpireAfter.
func Derive(all []*mxv1.TLSReport, domains map[string]bool, now time.Time, window time.Duration) Derived {
	return DeriveExpiring(all, domains, now, window, DefaultExpireAfter)
}

// DeriveExpiring recomputes the results of the given policy domains (lower
// case) from all stored reports at command time now. A domain whose newest
// report is already past expireAfter (Expired: an import of old reports) is
// not recomputed, so old reports change no current finding. It is
// deterministic: the same reports give the same results in any order.
func DeriveExpiring(all []*mxv1.TLSReport, domains map[string]bool, now time.Time, window, expireAfter time.Duration) Derived {
	if window <= 0 {
		window = DefaultWindow
	}
	var out Derived
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		var newest time.Time
		mxs := map[string]bool{}
		for _, r := range all {
			for _, p := range r.GetPolicies() {
				if !strings.EqualFold(p.GetPolicyDomain(), d) {
					continue
				}
				if e := r.GetEnd().AsTime(); e.After(newest) {
					newest = e
				}
				for _, f := range p.GetFailures() {
					if f.GetReceivingMxHostname() != "" {
						mxs[f.GetReceivingMxHostname()] = true
					}
				}
			}
		}
		if Expired(newest, now, expireAfter) {
			continue
		}
		w := windowOf(all, d, newest.Add(-window), newest)
		for _, mx := range slices.Sorted(maps.Keys(mxs)) {
			out.Results = append(out.Results, w.result(MXTarget(d, mx), mx))
		}
		out.Results = append(out.Results, w.result(DomainTarget(d), ""))
	}
	return out
}

// window is one domain's reports that started at or after from and ended
// by to (a daily report that started the day before does not count twice).
type window struct {
	domain   string
	from, to time.Time
	reports  []*mxv1.TLSReport
	policies []*mxv1.TLSReportPolicy // parallel to reports
	success  uint64
}

func windowOf(all []*mxv1.TLSReport, d string, from, to time.Time) *window {
	w := &window{domain: d, from: from, to: to}
	for _, r := range all {
		if r.GetStart().AsTime().Before(from) || r.GetEnd().AsTime().After(to) {
			continue
		}
		for _, p := range r.GetPolicies() {
			if strings.EqualFold(p.GetPolicyDomain(), d) {
				w.reports = append(w.reports, r)
				w.policies = append(w.policies, p)
				w.success += p.GetSuccessfulSessions()
			}
		}
	}
	if len(w.reports) > 0 {
		w.from = w.reports[0].GetStart().AsTime()
		for _, r := range w.reports {
			w.from = minTime(w.from, r.GetStart().AsTime())
		}
	}
	return w
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// result sums the window's failures to mx ("": failures that name no MX).
func (w *window) result(target, mx string) *mxv1.CheckResult {
	byOrg, byType := map[string]uint64{}, map[string]uint64{}
	ips, sending, ids, ptypes, reasons, infos := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var failed uint64
	for i, p := range w.policies {
		r := w.reports[i]
		for _, f := range p.GetFailures() {
			if f.GetReceivingMxHostname() != mx {
				continue
			}
			failed += f.GetFailedSessions()
			byOrg[r.GetOrganizationName()] += f.GetFailedSessions()
			byType[f.GetResultType()] += f.GetFailedSessions()
			ids[r.GetReportId()] = true
			ptypes[p.GetPolicyType()] = true
			for set, v := range map[*map[string]bool]string{&ips: f.GetReceivingIp(), &sending: f.GetSendingMtaIp(), &reasons: f.GetFailureReasonCode(), &infos: f.GetAdditionalInformation()} {
				if v != "" {
					(*set)[v] = true
				}
			}
		}
	}
	res := &mxv1.CheckResult{Check: Check, Target: target, Status: mxv1.CheckStatus_CHECK_STATUS_OK, StartedAt: timestamppb.New(w.to)}
	if failed == 0 {
		return res
	}
	orgs := slices.SortedFunc(maps.Keys(byOrg), func(a, b string) int { return cmp.Or(cmp.Compare(byOrg[b], byOrg[a]), cmp.Compare(a, b)) })
	types := slices.SortedFunc(maps.Keys(byType), func(a, b string) int { return cmp.Or(cmp.Compare(byType[b], byType[a]), cmp.Compare(a, b)) })
	var typeList []string
	for _, t := range types {
		typeList = append(typeList, fmt.Sprintf("%s=%d", t, byType[t]))
	}
	hours := int(w.to.Sub(w.from).Round(time.Hour) / time.Hour)
	if hours < 1 {
		hours = 1
	}
	what := mx
	if mx == "" {
		what = w.domain
	}
	summary := fmt.Sprintf("%s failed %d sessions to %s in the last %d h (reports to %s): %s",
		joinNames(orgs), failed, what, hours, w.to.UTC().Format("2006-01-02 15:04 MST"), strings.Join(types, ", "))
	ev := map[string]string{
		"origin": "tlsrpt", "policy_domain": w.domain, "organizations": strings.Join(orgs, ","), "failed_sessions": fmt.Sprint(failed),
		"domain_successful_sessions": fmt.Sprint(w.success), "result_types": strings.Join(typeList, ","),
		"window_start": w.from.UTC().Format(time.RFC3339), "window_end": w.to.UTC().Format(time.RFC3339),
		"report_ids": strings.Join(clipList(slices.Sorted(maps.Keys(ids)), 10), ","), "policy_types": strings.Join(slices.Sorted(maps.Keys(ptypes)), ","),
	}
	for k, set := range map[string]map[string]bool{"receiving_ips": ips, "sending_mta_ips": sending, "failure_reason_codes": reasons, "additional_information": infos} {
		if len(set) > 0 {
			ev[k] = text.Clip(strings.Join(clipList(slices.Sorted(maps.Keys(set)), 10), ","), 500)
		}
	}
	f := &mxv1.Finding{Severity: mxv1.Severity_SEVERITY_ERROR, Summary: summary, Evidence: ev}
	if mx != "" {
		f.Code, f.Subject, f.SubjectKind = string(finding.TLSRPTFailures), mx+":25", mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT
		ev["endpoint"] = mx + ":25"
		ev["mx"] = mx
		f.Remediation = remediation(types[0], mx, w.domain)
	} else {
		f.Code, f.Subject, f.SubjectKind = string(finding.TLSRPTPolicyFailures), w.domain, mxv1.SubjectKind_SUBJECT_KIND_DOMAIN
		f.Remediation = remediation(types[0], "", w.domain)
	}
	if w.success == 0 {
		f.Severity = mxv1.Severity_SEVERITY_CRITICAL // nothing reported got through
	}
	res.Findings = []*mxv1.Finding{f}
	res.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
	return res
}

// remediation says what the dominant result type asks of the receiving MX
// (or the domain), naming it.
func remediation(resultType, mx, domain string) string {
	switch resultType {
	case "certificate-expired":
		return fmt.Sprintf("Senders saw an expired certificate on %s: renew the certificate it presents on port 25 (Exchange: New-ExchangeCertificate or import the renewal, Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP), update TLSA records that pin it, then check with a probe of %s:25.", mx, mx)
	case "certificate-host-mismatch":
		return fmt.Sprintf("Senders found no matching name in the certificate %s presents: it must carry %s (SAN) for MTA-STS/DANE senders; issue one that does and bind it to the receive connector (TlsCertificateName).", mx, mx)
	case "certificate-not-trusted", "validation-failure":
		return fmt.Sprintf("Senders could not validate the certificate chain %s presents: present a certificate from a public CA with its intermediates (install the issuing CA in LocalMachine\\CA), then probe %s:25.", mx, mx)
	case "starttls-not-supported":
		return fmt.Sprintf("Senders found no STARTTLS on %s: make its receive connector offer TLS (a certificate enabled for SMTP, AuthMechanism including Tls) and check firewalls for ESMTP inspection that strips STARTTLS.", mx)
	case "tlsa-invalid":
		return fmt.Sprintf("DANE senders found that the TLSA records at _25._tcp.%s do not match the certificate %s presents: publish a TLSA record for the presented certificate (mxprobe's DANE_TLSA_MISMATCH finding gives it) or present the certificate the records name.", mx, mx)
	case "dnssec-invalid":
		what := mx
		if what == "" {
			what = domain
		}
		return fmt.Sprintf("Senders' validating resolvers could not validate DNS answers for %s: fix the zone's DNSSEC (expired signatures, DS that matches no key); see mxprobe's DNSSEC_BOGUS findings.", what)
	case "dane-required":
		return fmt.Sprintf("A sender requires DANE for %s but found no DNSSEC-validated TLSA records: publish signed TLSA records at _25._tcp.%s.", domain, orDomain(mx, domain))
	case "sts-policy-fetch-error":
		return fmt.Sprintf("Senders could not fetch https://mta-sts.%s/.well-known/mta-sts.txt: serve the policy there (HTTP 200, text/plain, no redirect); see mxprobe's MTASTS_POLICY_FETCH_FAILED findings for %s.", domain, domain)
	case "sts-policy-invalid":
		return fmt.Sprintf("Senders found the MTA-STS policy of %s invalid: fix the policy file (version, mode, mx, max_age lines) and change the id in _mta-sts.%s.", domain, domain)
	case "sts-webpki-invalid":
		return fmt.Sprintf("Senders could not validate the certificate of mta-sts.%s: renew it or add its intermediates so it chains to a public root.", domain)
	}
	return fmt.Sprintf("Senders reported %s for %s: check the MX's certificate, STARTTLS and the domain's TLSA/MTA-STS policy (mxprobe's findings for %s say which).", resultType, orDomain(mx, domain), domain)
}

func orDomain(mx, d string) string {
	if mx != "" {
		return mx
	}
	return d
}

// joinNames: "A", "A and B", "A, B and C", "A, B, C and 2 others".
func joinNames(ns []string) string {
	switch len(ns) {
	case 0:
		return "senders"
	case 1:
		return ns[0]
	case 2:
		return ns[0] + " and " + ns[1]
	case 3:
		return ns[0] + ", " + ns[1] + " and " + ns[2]
	}
	return fmt.Sprintf("%s, %s, %s and %d others", ns[0], ns[1], ns[2], len(ns)-3)
}

func clipList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clip(s[:n]), fmt.Sprintf("+%d more", len(s)-n))
}
