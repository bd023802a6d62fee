package tlsrpt

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// MaxListBytes bounds the encoded reports of one List (a gRPC client's
// default message limit is 4 MiB; a report may hold up to MaxReportBytes of
// JSON).
const MaxListBytes = 3 << 20

// List filters reports (newest first) and sums them per policy domain and
// reporting organisation: the API's ListTLSReports and the dashboard's
// reports page. It lists at most limit reports and at most MaxListBytes of
// them encoded (at least one, whatever its size); ReportsLeftOff counts the
// matching reports it did not list.
func List(all []*mxv1.TLSReport, domain, org string, limit int) *mxv1.ListTLSReportsResponse {
	size := 0
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
		if !matched {
			continue
		}
		if n := proto.Size(r); len(resp.Reports) < limit && (len(resp.Reports) == 0 || size+n <= MaxListBytes) && resp.ReportsLeftOff == 0 {
			resp.Reports = append(resp.Reports, r)
			size += n
		} else {
			resp.ReportsLeftOff++
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(sums), func(a, b key) int { return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.org, b.org)) }) {
		sums[k].ReceivingMxHosts = slices.Sorted(maps.Keys(mxs[k]))
		resp.Summaries = append(resp.Summaries, sums[k])
	}
	return resp
}
