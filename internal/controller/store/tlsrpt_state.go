package store

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// MaxTLSReports bounds the stored TLS-RPT reports; beyond it the reports
// that ended first are dropped (the same on every replica).
const MaxTLSReports = 20000

// tlsReportRetention: reports that ended longer ago than this (command
// time) are dropped when new ones are applied.
const tlsReportRetention = 90 * 24 * time.Hour

// tlsrptState holds TLS-RPT reports by report_id. Reports turn into results
// of the virtual agent tlsrpt.AgentID (one per receiving MX, one per policy
// domain with failures that name no MX), stored with the agents' results so
// that the API, the dashboard and correlation see them like any other.
type tlsrptState struct {
	mu   sync.RWMutex
	byID map[string]*mxv1.TLSReport
}

func newTLSRPTState() *tlsrptState { return &tlsrptState{byID: map[string]*mxv1.TLSReport{}} }

// TLSReportsResult is the FSM's answer to IngestTLSReports.
type TLSReportsResult struct {
	Duplicate []bool
}

// applyTLSReports stores new reports (a known report_id is a duplicate),
// prunes old ones and recomputes the virtual agent's results for the
// policy domains the new reports name (tlsrpt.Derive: a clean result is
// written only when reports for the domain cover the window, so no
// reports is never "clean").
func (s *State) applyTLSReports(c *mxv1.IngestTLSReports, at *timestamppb.Timestamp) TLSReportsResult {
	res := TLSReportsResult{Duplicate: make([]bool, len(c.GetReports()))}
	now := at.AsTime()
	t := s.tlsrpt
	t.mu.Lock()
	domains := map[string]bool{}
	for i, r := range c.GetReports() {
		id := r.GetReportId()
		if _, ok := t.byID[id]; ok || id == "" {
			res.Duplicate[i] = true
			continue
		}
		r = proto.CloneOf(r)
		r.ReceivedAt = at
		t.byID[id] = r
		for _, p := range r.GetPolicies() {
			domains[strings.ToLower(p.GetPolicyDomain())] = true
		}
	}
	t.pruneLocked(now)
	if len(domains) == 0 { // every report a duplicate: nothing to derive
		t.mu.Unlock()
		return res
	}
	all := t.sortedLocked()
	t.mu.Unlock()
	derived := tlsrpt.DeriveExpiring(all, domains, now, tlsrpt.DefaultWindow, c.GetExpireAfter().AsDuration())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range derived.Results {
		k := resultKey{tlsrpt.AgentID, r.GetCheck(), r.GetTarget()}
		s.results[k] = decodedResult(&mxv1.StoredResult{AgentId: tlsrpt.AgentID, Result: r, CommittedAt: at, History: nextHistory(s.results[k].getHistory(), r, at)})
		s.changes.result(k)
	}
	return res
}

// pruneLocked drops reports past retention, then the oldest beyond
// MaxTLSReports.
func (t *tlsrptState) pruneLocked(now time.Time) {
	for id, r := range t.byID {
		if now.Sub(r.GetEnd().AsTime()) > tlsReportRetention {
			delete(t.byID, id)
		}
	}
	if len(t.byID) <= MaxTLSReports {
		return
	}
	all := t.sortedLocked()
	sort.SliceStable(all, func(i, j int) bool { return all[i].GetEnd().AsTime().Before(all[j].GetEnd().AsTime()) })
	for _, r := range all[:len(all)-MaxTLSReports] {
		delete(t.byID, r.GetReportId())
	}
}

func (t *tlsrptState) sortedLocked() []*mxv1.TLSReport {
	out := make([]*mxv1.TLSReport, 0, len(t.byID))
	for _, r := range t.byID {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetReportId() < out[j].GetReportId() })
	return out
}

func (t *tlsrptState) snapshot() []*mxv1.TLSReport {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sortedLocked()
}

// restore replaces the reports with a snapshot's (the derived results are
// restored with the other results).
func (t *tlsrptState) restore(snap *mxv1.StateSnapshot) {
	m := make(map[string]*mxv1.TLSReport, len(snap.GetTlsReports()))
	for _, r := range snap.GetTlsReports() {
		m[r.GetReportId()] = r
	}
	t.mu.Lock()
	t.byID = m
	t.mu.Unlock()
}

// TLSReports lists stored reports (immutable; do not modify), newest end
// first, then by report_id.
func (s *State) TLSReports() []*mxv1.TLSReport {
	all := s.tlsrpt.snapshot()
	sort.SliceStable(all, func(i, j int) bool { return all[i].GetEnd().AsTime().After(all[j].GetEnd().AsTime()) })
	return all
}

// HasTLSReport reports whether a report_id is stored.
func (s *State) HasTLSReport(id string) bool {
	s.tlsrpt.mu.RLock()
	defer s.tlsrpt.mu.RUnlock()
	_, ok := s.tlsrpt.byID[id]
	return ok
}

// ProposeTLSReports commits reports (leader only) under this node's expiry
// (Config.TLSRPTExpireAfter); it returns which were duplicates.
func (s *Store) ProposeTLSReports(ctx context.Context, reports []*mxv1.TLSReport) (TLSReportsResult, error) {
	c := &mxv1.IngestTLSReports{Reports: reports, ExpireAfter: durationpb.New(s.tlsrptExpireAfter())}
	resp, err := s.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestTlsReports{IngestTlsReports: c}})
	if err != nil {
		return TLSReportsResult{}, err
	}
	res, _ := resp.(TLSReportsResult)
	return res, nil
}
