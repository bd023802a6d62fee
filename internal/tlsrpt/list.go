package tlsrpt

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// List filters reports (newest first) and sums them per policy domain and
// reporting organisation: the API's ListTLSReports and the dashboard's
// reports page.
func List(all []*mxv1.TLSReport, domain, org string, limit int) *mxv1.ListTLSReportsResponse {
	resp := &mxv1.ListTLSReportsResponse{Reports: []*mxv1.TLSReport{}, Summaries: []*mxv1.TLSReportSummary{}}
	type key struct{ domain, org string }
	sums := map[key]*mxv1.TLSReportSummary{}
	mxs := map[key]map[string]bool{}
	for _, r := range all {
		if org != "" && !strings.EqualFold(r.GetOrganizationName(), org) {
			continue
		}
		matched := false
		for _, p := range r.GetPolicies() {
			if domain != "" && !strings.EqualFold(p.GetPolicyDomain(), strings.TrimSuffix(domain, ".")) {
				continue
			}
			matched = true
			k := key{p.GetPolicyDomain(), r.GetOrganizationName()}
			sm := sums[k]
			if sm == nil {
				sm = &mxv1.TLSReportSummary{PolicyDomain: k.domain, OrganizationName: k.org, FailuresByResult: map[string]uint64{},
					FirstStart: r.GetStart(), LastEnd: r.GetEnd()}
				sums[k], mxs[k] = sm, map[string]bool{}
			}
			sm.Reports++
			sm.SuccessfulSessions += p.GetSuccessfulSessions()
			sm.FailedSessions += p.GetFailedSessions()
			for _, f := range p.GetFailures() {
				sm.FailuresByResult[f.GetResultType()] += f.GetFailedSessions()
				if f.GetReceivingMxHostname() != "" {
					mxs[k][f.GetReceivingMxHostname()] = true
				}
			}
			if r.GetStart().AsTime().Before(sm.GetFirstStart().AsTime()) {
				sm.FirstStart = r.GetStart()
			}
			if r.GetEnd().AsTime().After(sm.GetLastEnd().AsTime()) {
				sm.LastEnd = r.GetEnd()
			}
		}
		if matched && len(resp.Reports) < limit {
			resp.Reports = append(resp.Reports, r)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(sums), func(a, b key) int { return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.org, b.org)) }) {
		sums[k].ReceivingMxHosts = slices.Sorted(maps.Keys(mxs[k]))
		resp.Summaries = append(resp.Summaries, sums[k])
	}
	return resp
}
