package store

import (
	"cmp"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// MaxResultHistory bounds the changes kept per (agent, check, target); a
// full history does not reach back to the check's first result.
const MaxResultHistory = 8

// nextHistory returns the history of a check after result r committed at
// at: unchanged (and shared) when r has the outcome of the last change,
// else a new slice with the change appended, the oldest dropped beyond
// MaxResultHistory. Stored slices are never modified.
func nextHistory(prev []*mxv1.ResultChange, r *mxv1.CheckResult, at *timestamppb.Timestamp) []*mxv1.ResultChange {
	// Most results have the outcome of their last change: the codes are
	// gathered on the stack and copied only for a new change.
	var buf [8]string
	codes := buf[:0]
	for _, f := range r.GetFindings() {
		if f.GetSeverity() >= mxv1.Severity_SEVERITY_WARNING {
			codes = append(codes, f.GetCode())
		}
	}
	return historyAfter(prev, r.GetStatus(), codes, at)
}

// historyAfter is nextHistory of a result with status and the codes of its
// findings at WARNING or worse (in any order, duplicates allowed; sorted
// in place).
func historyAfter(prev []*mxv1.ResultChange, status mxv1.CheckStatus, codes []string, at *timestamppb.Timestamp) []*mxv1.ResultChange {
	slices.Sort(codes)
	codes = slices.Compact(codes)
	if n := len(prev); n > 0 && prev[n-1].GetStatus() == status && slices.Equal(prev[n-1].GetCodes(), codes) {
		return prev
	}
	start := max(0, len(prev)+1-MaxResultHistory)
	h := make([]*mxv1.ResultChange, 0, len(prev)-start+1)
	h = append(h, prev[start:]...)
	var kept []string // nil when there are none, as before
	if len(codes) > 0 {
		kept = slices.Clone(codes)
	}
	return append(h, &mxv1.ResultChange{At: at, Status: status, Codes: kept})
}

// ResultFilter selects check results; empty fields match everything.
type ResultFilter struct {
	Site, AgentID, Check string
	// Failing: status FAIL or ERROR only.
	Failing bool
}

// ResultKey orders results: agent, check, target.
type ResultKey struct{ Agent, Check, Target string }

func (k ResultKey) compare(o ResultKey) int {
	return cmp.Or(strings.Compare(k.Agent, o.Agent), strings.Compare(k.Check, o.Check), strings.Compare(k.Target, o.Target))
}

// Results lists up to limit results matching f after the key `after`
// (zero: from the start), sorted by key; next is the last key returned when
// more follow.
func (s *State) Results(f ResultFilter, after ResultKey, limit int) (out []*mxv1.CheckResultRecord, next *ResultKey) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]ResultKey, 0, len(s.results))
	for k, sr := range s.results {
		rk := ResultKey{k.agent, k.check, k.target}
		if (after != ResultKey{}) && rk.compare(after) <= 0 {
			continue
		}
		if f.AgentID != "" && k.agent != f.AgentID || f.Check != "" && k.check != f.Check {
			continue
		}
		if f.Site != "" && !strings.EqualFold(s.agents[k.agent].GetSite(), f.Site) {
			continue
		}
		if st := sr.getStatus(); f.Failing && st != mxv1.CheckStatus_CHECK_STATUS_FAIL && st != mxv1.CheckStatus_CHECK_STATUS_ERROR {
			continue
		}
		keys = append(keys, rk)
	}
	slices.SortFunc(keys, ResultKey.compare)
	if len(keys) > limit {
		keys = keys[:limit]
		last := keys[limit-1]
		next = &last
	}
	for _, k := range keys {
		sr := s.results[resultKey{k.Agent, k.Check, k.Target}].get()
		a := s.agents[k.Agent]
		rec := &mxv1.CheckResultRecord{AgentId: k.Agent, Site: a.GetSite(), Hostname: a.GetHostname(), Result: sr.GetResult(),
			CommittedAt: sr.GetCommittedAt(), History: sr.GetHistory(), StaleSince: sr.GetStaleSince()}
		if h := sr.GetHistory(); len(h) > 0 {
			rec.Since = h[len(h)-1].GetAt()
		}
		if lb := a.GetLastBatchAt(); lb != nil && sr.GetCommittedAt().AsTime().Before(lb.AsTime()) {
			rec.Retired = true
		}
		out = append(out, rec)
	}
	return out, next
}
