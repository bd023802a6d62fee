package tlsrpt

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// The ageing rule (docs/outside-in.md "Ageing"): senders report daily
// (RFC 8460 section 4.1), so a policy domain's next report is due about
// DefaultWindow after its newest one ended; one that has not come within
// the window plus a grace means the reports stopped, not that mail flows.
// The domain's results then age: they keep what was last known, say so, and
// are no longer an observation of health either way.

// DefaultGrace is the default of tlsrpt.stale_grace: how long past the
// report window a domain's next report may be late (senders deliver
// daily reports hours, sometimes a day, after the period ends).
const DefaultGrace = 48 * time.Hour

// DefaultExpireAfter is the expiry with the default grace (72 h, which is
// also what a command without expire_after means).
const DefaultExpireAfter = DefaultWindow + DefaultGrace

// ExpireAfter is the expiry for a grace (<= 0: DefaultGrace): the report
// window plus the grace.
func ExpireAfter(grace time.Duration) time.Duration {
	if grace <= 0 {
		grace = DefaultGrace
	}
	return DefaultWindow + grace
}

// Expired reports whether a domain whose newest report ended at newest
// (zero: no report stored) is past expireAfter at command time now
// (expireAfter <= 0: DefaultExpireAfter).
func Expired(newest, now time.Time, expireAfter time.Duration) bool {
	if expireAfter <= 0 {
		expireAfter = DefaultExpireAfter
	}
	return newest.IsZero() || now.Sub(newest) > expireAfter
}

// NewestEnds maps each policy domain (lower case) of the reports to the
// end of its newest report.
func NewestEnds(all []*mxv1.TLSReport) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range all {
		e := r.GetEnd().AsTime()
		for _, p := range r.GetPolicies() {
			d := strings.ToLower(p.GetPolicyDomain())
			if e.After(out[d]) {
				out[d] = e
			}
		}
	}
	return out
}

// TargetDomain is the policy domain of a result target (MXTarget or
// DomainTarget); ok is false for any other target.
func TargetDomain(target string) (domain string, ok bool) {
	rest, ok := strings.CutPrefix(target, "tlsrpt://")
	if !ok {
		return "", false
	}
	d, _, _ := strings.Cut(rest, "/")
	return d, d != ""
}

// Age returns the aged copy of a result of domain d (r is not modified):
// status ERROR (nothing current to read), the failures it held kept as what
// was last known at WARNING at most, and on the domain's own result an INFO
// TLSRPT_REPORTS_STALE that says since when nothing came. newest is the end
// of the domain's newest report (zero: none stored any more).
func Age(r *mxv1.CheckResult, d string, newest time.Time, expireAfter time.Duration) *mxv1.CheckResult {
	if expireAfter <= 0 {
		expireAfter = DefaultExpireAfter
	}
	out := proto.CloneOf(r)
	since := "no report is stored"
	if !newest.IsZero() {
		since = "none since " + newest.UTC().Format("2006-01-02 15:04 MST")
	}
	out.Status = mxv1.CheckStatus_CHECK_STATUS_ERROR
	out.Error = fmt.Sprintf("no TLS-RPT report for %s within %s (%s): what senders see now is unknown", d, hoursOf(expireAfter), since)
	out.Findings = nil
	for _, f := range r.GetFindings() {
		out.Findings = append(out.Findings, agedFinding(f, d, newest, since, expireAfter))
	}
	if _, mx, _ := strings.Cut(strings.TrimPrefix(r.GetTarget(), "tlsrpt://"), "/"); mx == "" {
		ev := map[string]string{"origin": "tlsrpt", "policy_domain": d, "stale": "true", "expire_after": hoursOf(expireAfter)}
		if !newest.IsZero() {
			ev["last_report_end"] = newest.UTC().Format(time.RFC3339)
		}
		out.Findings = append(out.Findings, &mxv1.Finding{
			Code: string(finding.TLSRPTReportsStale), Severity: mxv1.Severity_SEVERITY_INFO,
			Subject: d, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_DOMAIN,
			Summary:     fmt.Sprintf("No TLS-RPT report for %s within %s (%s): the senders' view of its MX hosts is unknown, not healthy", d, hoursOf(expireAfter), since),
			Remediation: fmt.Sprintf("Check that senders' reports still reach the rua of _smtp._tls.%s (the TLS-RPT listener reachable from the Internet, or the mailbox whose reports are imported with controller tlsrpt import), and that the record is still published.", d),
			Evidence:    ev,
		})
	}
	return out
}

// agedFinding is a failure finding as what was last known: WARNING at most
// (the evidence is old), the old summary kept after what is known now, and
// a remediation that first checks the present.
func agedFinding(f *mxv1.Finding, d string, newest time.Time, since string, expireAfter time.Duration) *mxv1.Finding {
	g := proto.CloneOf(f)
	g.Severity = min(g.GetSeverity(), mxv1.Severity_SEVERITY_WARNING)
	what := d
	if mx := f.GetEvidence()["mx"]; mx != "" {
		what = mx
	}
	g.Summary = fmt.Sprintf("No TLS-RPT report for %s within %s (%s): whether senders still fail to %s is unknown. The last reports said: %s",
		d, hoursOf(expireAfter), since, what, f.GetSummary())
	check := "the MX's certificate and STARTTLS directly (mxprobe's probe findings for " + what + ":25)"
	if what == d {
		check = "the domain's MTA-STS policy host and DNSSEC directly (mxprobe's mail_domain findings for " + d + ")"
	}
	g.Remediation = fmt.Sprintf("Check %s, and that reports for %s still arrive. If the cause persists: %s", check, d, f.GetRemediation())
	g.Evidence = maps.Clone(f.GetEvidence())
	if g.Evidence == nil {
		g.Evidence = map[string]string{}
	}
	g.Evidence["stale"] = "true"
	g.Evidence["expire_after"] = hoursOf(expireAfter)
	if !newest.IsZero() {
		g.Evidence["last_report_end"] = newest.UTC().Format(time.RFC3339)
	}
	return g
}

func hoursOf(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return d.String()
}
