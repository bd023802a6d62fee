package web

// The TLS-RPT page (/reports): what other mail systems reported about
// delivering to the organisation's domains (RFC 8460 reports, stored by the
// controller; internal/tlsrpt), per policy domain and sender, and the
// newest reports with their failures.

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// maxReportRows bounds the newest reports listed.
const maxReportRows = 50

type reportFailure struct {
	Result, From, MX, IP string
	Sessions             uint64
}

type reportRow struct {
	R        *mxv1.TLSReport
	Policy   *mxv1.TLSReportPolicy
	Failures []reportFailure
}

type reportSummaryRow struct {
	S        *mxv1.TLSReportSummary
	Failures string // "certificate-expired=412, ..." worst first
	// Stopped is set when the domain's reports stopped (tlsrpt.Expired):
	// "none since ..., due within 72 h".
	Stopped string
}

// stoppedDomain is a policy domain whose reports stopped.
type stoppedDomain struct{ Domain, Since string }

type reportsView struct {
	Domain, Org string
	Summaries   []reportSummaryRow
	Reports     []reportRow
	Total       string // "3 reports"
	// Stopped lists the shown domains whose reports stopped.
	Stopped []stoppedDomain
	// LeftOff: "12 older reports" matched but are not listed.
	LeftOff string
}

func (h *Handler) reports(w http.ResponseWriter, r *http.Request) {
	domain, org := r.URL.Query().Get("domain"), r.URL.Query().Get("org")
	if len(domain) > 255 || len(org) > 255 {
		h.renderError(w, r, http.StatusBadRequest, "domain and org: at most 255 characters")
		return
	}
	all := h.cfg.State.TLSReports()
	list := tlsrpt.List(all, domain, org, maxReportRows)
	v := reportsView{Domain: domain, Org: org, Total: text.Count(len(all), "report")}
	if n := list.GetReportsLeftOff(); n > 0 {
		v.LeftOff = text.Count(int(n), "older report")
	}
	stopped := h.stoppedReports(all)
	for _, s := range list.GetSummaries() {
		byResult := s.GetFailuresByResult()
		types := slices.SortedFunc(maps.Keys(byResult), func(a, b string) int { return cmp.Or(cmp.Compare(byResult[b], byResult[a]), cmp.Compare(a, b)) })
		var parts []string
		for _, t := range types {
			parts = append(parts, fmt.Sprintf("%s=%d", t, byResult[t]))
		}
		d := strings.ToLower(s.GetPolicyDomain())
		v.Summaries = append(v.Summaries, reportSummaryRow{S: s, Failures: strings.Join(parts, ", "), Stopped: stopped[d]})
		if stopped[d] != "" && !slices.ContainsFunc(v.Stopped, func(x stoppedDomain) bool { return x.Domain == d }) {
			v.Stopped = append(v.Stopped, stoppedDomain{Domain: d, Since: stopped[d]})
		}
	}
	for _, rep := range list.GetReports() {
		for _, p := range rep.GetPolicies() {
			if domain != "" && !strings.EqualFold(p.GetPolicyDomain(), strings.TrimSuffix(domain, ".")) {
				continue
			}
			row := reportRow{R: rep, Policy: p}
			for _, f := range p.GetFailures() {
				row.Failures = append(row.Failures, reportFailure{Result: f.GetResultType(), From: f.GetSendingMtaIp(), MX: f.GetReceivingMxHostname(), IP: f.GetReceivingIp(), Sessions: f.GetFailedSessions()})
			}
			v.Reports = append(v.Reports, row)
		}
	}
	h.render(w, r, http.StatusOK, "reports", "TLS-RPT reports", "reports", v)
}

// stoppedReports maps each policy domain (lower case) whose reports
// stopped to how long ago: its newest report ended longer ago than the
// expiry (the report window plus tlsrpt.stale_grace; tlsrpt.Expired, the
// rule the store ages results by) at the dashboard's clock. Senders report
// daily, so the domain's findings are what was last known, not health.
func (h *Handler) stoppedReports(all []*mxv1.TLSReport) map[string]string {
	exp := h.cfg.TLSRPTExpireAfter
	if exp <= 0 {
		exp = tlsrpt.DefaultExpireAfter
	}
	now := h.cfg.Now()
	out := map[string]string{}
	for d, newest := range tlsrpt.NewestEnds(all) {
		if tlsrpt.Expired(newest, now, exp) {
			out[d] = fmt.Sprintf("none since %s, due within %s", newest.UTC().Format("2006-01-02 15:04 MST"), hours(exp))
		}
	}
	return out
}

func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return d.String()
}
