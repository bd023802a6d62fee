package store

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Ageing of TLS-RPT results (tlsrpt/age.go has the rule). The FSM never
// reads a clock: the leader's tick (ageTLSReportsWhileLeading) proposes an
// AgeTLSReportResults command when some result is due by its clock and
// expiry, and every replica ages, at that log index, the results that are
// due at the command's proposed_at under the command's expire_after.

// defaultTLSRPTAgeEvery is how often the leader looks for results to age.
const defaultTLSRPTAgeEvery = time.Minute

// AgeResult is the FSM's answer to AgeTLSReportResults.
type AgeResult struct {
	// Aged counts the results that became stale.
	Aged int
}

func (s *Store) tlsrptExpireAfter() time.Duration {
	if s.cfg.TLSRPTExpireAfter > 0 {
		return s.cfg.TLSRPTExpireAfter
	}
	return tlsrpt.DefaultExpireAfter
}

// applyAgeTLSReports ages every result of the virtual agent whose policy
// domain's newest stored report is past the expiry at the command's time.
// An aged result keeps committed_at (it is no new observation, clean or
// not) and gets stale_since; a later report for the domain replaces it.
func (s *State) applyAgeTLSReports(c *mxv1.AgeTLSReportResults, at *timestamppb.Timestamp) AgeResult {
	newest := tlsrpt.NewestEnds(s.tlsrpt.snapshot())
	exp := c.GetExpireAfter().AsDuration()
	now := at.AsTime()
	s.mu.Lock()
	defer s.mu.Unlock()
	var res AgeResult
	for k, sr := range s.results {
		d, ok := s.tlsrptDueLocked(k, sr, newest, now, exp)
		if !ok {
			continue
		}
		old := sr.get()
		aged := tlsrpt.Age(old.GetResult(), d, newest[d], exp)
		s.results[k] = decodedResult(&mxv1.StoredResult{AgentId: old.GetAgentId(), Result: aged, CommittedAt: old.GetCommittedAt(),
			History: nextHistory(old.GetHistory(), aged, at), StaleSince: at})
		s.changes.result(k)
		res.Aged++
	}
	return res
}

// tlsrptDueLocked: sr is a current (not yet aged) result of the virtual
// agent whose domain is expired at now; d is its domain.
func (s *State) tlsrptDueLocked(k resultKey, sr *storedResult, newest map[string]time.Time, now time.Time, exp time.Duration) (string, bool) {
	if k.agent != tlsrpt.AgentID || sr.get().GetStaleSince() != nil {
		return "", false
	}
	d, ok := tlsrpt.TargetDomain(k.target)
	if !ok || !tlsrpt.Expired(newest[d], now, exp) {
		return "", false
	}
	return d, true
}

// TLSReportAgeingDue reports whether an AgeTLSReportResults at now with
// expireAfter would age any result (the leader asks before proposing, so
// the log gets an entry only when something changes).
func (s *State) TLSReportAgeingDue(now time.Time, expireAfter time.Duration) bool {
	newest := tlsrpt.NewestEnds(s.tlsrpt.snapshot())
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, sr := range s.results {
		if _, ok := s.tlsrptDueLocked(k, sr, newest, now, expireAfter); ok {
			return true
		}
	}
	return false
}

// AgeTLSReports proposes AgeTLSReportResults under this node's expiry
// (leader only) and returns how many results aged.
func (s *Store) AgeTLSReports(ctx context.Context) (AgeResult, error) {
	resp, err := s.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_AgeTlsReportResults{
		AgeTlsReportResults: &mxv1.AgeTLSReportResults{ExpireAfter: durationpb.New(s.tlsrptExpireAfter())}}})
	if err != nil {
		return AgeResult{}, err
	}
	res, _ := resp.(AgeResult)
	return res, nil
}

// ageTLSReportsWhileLeading is the leader's ageing tick (OnLeadership).
func (s *Store) ageTLSReportsWhileLeading(ctx context.Context) {
	every := s.cfg.TLSRPTAgeEvery
	if every <= 0 {
		every = defaultTLSRPTAgeEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.state.TLSReportAgeingDue(s.cfg.Now(), s.tlsrptExpireAfter()) {
			continue
		}
		res, err := s.AgeTLSReports(ctx)
		switch {
		case err == nil:
			s.log.Info("TLS-RPT results aged: no report within the expiry", "results", res.Aged, "expire_after", s.tlsrptExpireAfter())
		case errors.Is(err, context.Canceled), errors.Is(err, ErrNotLeader), errors.Is(err, ErrClosed):
		default:
			s.log.Warn("TLS-RPT ageing failed; retried on the next tick", "err", err)
		}
	}
}
