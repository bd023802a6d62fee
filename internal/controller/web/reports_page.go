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
}

type reportsView struct {
	Domain, Org string
	Summaries   []reportSummaryRow
	Reports     []reportRow
	Total       string // "3 reports"
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
	for _, s := range list.GetSummaries() {
		byResult := s.GetFailuresByResult()
		types := slices.SortedFunc(maps.Keys(byResult), func(a, b string) int { return cmp.Or(cmp.Compare(byResult[b], byResult[a]), cmp.Compare(a, b)) })
		var parts []string
		for _, t := range types {
			parts = append(parts, fmt.Sprintf("%s=%d", t, byResult[t]))
		}
		v.Summaries = append(v.Summaries, reportSummaryRow{S: s, Failures: strings.Join(parts, ", ")})
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
