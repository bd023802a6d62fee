package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// ageReport is a daily report for domain over the day starting at day,
// with failed sessions to mx.DOMAIN (0: clean).
func ageReport(t *testing.T, domain string, day time.Time, failed int) *mxv1.TLSReport {
	t.Helper()
	details := ""
	if failed > 0 {
		details = fmt.Sprintf(`,"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.%s","failed-session-count":%d}]`, domain, failed)
	}
	j := fmt.Sprintf(`{"organization-name":"Google Inc.","date-range":{"start-datetime":%q,"end-datetime":%q},"report-id":"g-%s-%s",
"policies":[{"policy":{"policy-type":"sts","policy-domain":%q},"summary":{"total-successful-session-count":0,"total-failure-session-count":%d}%s}]}`,
		day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339), domain, day.Format("20060102"), domain, failed, details)
	r, err := tlsrpt.Parse([]byte(j))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reportResult(s *State, target string) *mxv1.StoredResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.results[resultKey{tlsrpt.AgentID, tlsrpt.Check, target}].get()
}

// The ageing rule in the FSM: nothing ages before the command's expiry;
// past it, the domain's results are stale (committed_at kept, failures
// kept at WARNING as what was last known, the domain result says since
// when nothing came) exactly once; an import of reports already past the
// command's expiry derives nothing; a later report makes them current.
func TestAgeTLSReportResultsRule(t *testing.T) {
	f := &fsm{state: newState(), log: quietLog()}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	end := day.Add(24 * time.Hour)
	exp := durationpb.New(30 * time.Hour)
	idx := uint64(0)
	apply := func(at time.Time, c *mxv1.Command) any {
		idx++
		c.ProposedAt = timestamppb.New(at)
		return applyCmd(t, f, idx, c)
	}
	ingest := func(at time.Time, e *durationpb.Duration, rs ...*mxv1.TLSReport) {
		apply(at, &mxv1.Command{Kind: &mxv1.Command_IngestTlsReports{IngestTlsReports: &mxv1.IngestTLSReports{Reports: rs, ExpireAfter: e}}})
	}
	age := func(at time.Time) int {
		return apply(at, &mxv1.Command{Kind: &mxv1.Command_AgeTlsReportResults{AgeTlsReportResults: &mxv1.AgeTLSReportResults{ExpireAfter: exp}}}).(AgeResult).Aged
	}
	ingest(end.Add(6*time.Hour), exp, ageReport(t, "contoso.com", day, 412))
	mxT, domT := tlsrpt.MXTarget("contoso.com", "mx.contoso.com"), tlsrpt.DomainTarget("contoso.com")
	before := reportResult(f.state, mxT)
	if before.GetResult().GetFindings()[0].GetSeverity() != mxv1.Severity_SEVERITY_CRITICAL {
		t.Fatalf("fresh result: %v", before)
	}
	if n := age(end.Add(30 * time.Hour)); n != 0 || f.state.TLSReportAgeingDue(end.Add(30*time.Hour), exp.AsDuration()) {
		t.Fatalf("aged %d results at the expiry, want none before it passes", n)
	}
	at := end.Add(31 * time.Hour)
	if !f.state.TLSReportAgeingDue(at, exp.AsDuration()) {
		t.Fatal("ageing not due past the expiry")
	}
	if n := age(at); n != 2 {
		t.Fatalf("aged %d results, want the MX's and the domain's", n)
	}
	mx := reportResult(f.state, mxT)
	if !proto.Equal(mx.GetStaleSince(), timestamppb.New(at)) || !proto.Equal(mx.GetCommittedAt(), before.GetCommittedAt()) ||
		mx.GetResult().GetStatus() != mxv1.CheckStatus_CHECK_STATUS_ERROR || !strings.Contains(mx.GetResult().GetError(), "no TLS-RPT report for contoso.com within 30 h") {
		t.Fatalf("aged MX result: %v", mx)
	}
	mf := mx.GetResult().GetFindings()
	if len(mf) != 1 || mf[0].GetCode() != "TLSRPT_FAILURES" || mf[0].GetSeverity() != mxv1.Severity_SEVERITY_WARNING || mf[0].GetEvidence()["stale"] != "true" ||
		mf[0].GetEvidence()["last_report_end"] != end.Format(time.RFC3339) || !strings.Contains(mf[0].GetSummary(), "whether senders still fail to mx.contoso.com is unknown") ||
		!strings.HasPrefix(mf[0].GetRemediation(), "Check the MX's certificate and STARTTLS directly") {
		t.Fatalf("aged MX finding: %v", mf)
	}
	if before.GetResult().GetFindings()[0].GetSeverity() != mxv1.Severity_SEVERITY_CRITICAL {
		t.Fatal("ageing modified the stored result it replaced")
	}
	df := reportResult(f.state, domT).GetResult().GetFindings()
	if len(df) != 1 || df[0].GetCode() != "TLSRPT_REPORTS_STALE" || df[0].GetSeverity() != mxv1.Severity_SEVERITY_INFO || df[0].GetSubject() != "contoso.com" {
		t.Fatalf("aged domain result: %v", df)
	}
	if recs, _ := f.state.Results(ResultFilter{AgentID: tlsrpt.AgentID}, ResultKey{}, 10); len(recs) != 2 || !proto.Equal(recs[0].GetStaleSince(), timestamppb.New(at)) || !proto.Equal(recs[1].GetStaleSince(), timestamppb.New(at)) {
		t.Fatalf("the results listing does not say they are stale: %v", recs)
	}
	if n := age(at.Add(time.Hour)); n != 0 || f.state.TLSReportAgeingDue(at.Add(time.Hour), exp.AsDuration()) {
		t.Fatalf("aged %d results again", n)
	}
	// The command's expiry decides, not a default: a report that ended 40 h
	// ago is past 30 h (nothing derived) but within 72 h (derived).
	old := end.Add(40 * time.Hour)
	ingest(old, exp, ageReport(t, "fabrikam.com", day, 9))
	if r := reportResult(f.state, tlsrpt.DomainTarget("fabrikam.com")); r != nil {
		t.Fatalf("an import past the expiry derived %v", r)
	}
	ingest(old, nil, ageReport(t, "fabrikam.com", day.Add(-time.Hour), 9))
	if r := reportResult(f.state, tlsrpt.DomainTarget("fabrikam.com")); r == nil || r.GetStaleSince() != nil {
		t.Fatalf("within the default 72 h: %v", r)
	}
	// A new report makes the domain current again.
	next := day.Add(48 * time.Hour)
	ingest(next.Add(30*time.Hour), exp, ageReport(t, "contoso.com", next, 0))
	if r := reportResult(f.state, mxT); r.GetStaleSince() != nil || r.GetResult().GetStatus() != mxv1.CheckStatus_CHECK_STATUS_OK || len(r.GetResult().GetFindings()) != 0 {
		t.Fatalf("after a clean report: %v", r)
	}
	g := &fsm{state: newState(), log: quietLog()}
	g.state.restore(f.state.snapshot())
	if !proto.Equal(g.state.snapshot(), f.state.snapshot()) {
		t.Fatal("snapshot round trip changed the state")
	}
}

type ageClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *ageClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *ageClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Ageing is replicated: three real raft nodes; the leader's tick (never
// the FSM's clock) proposes the ageing once the expiry passes, every
// follower ages the same results identically, no further entries follow
// while nothing is due, and a later report makes every node current again.
func TestTLSRPTAgeingReplicatesToFollowers(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	end := day.Add(24 * time.Hour)
	clock := &ageClock{now: end.Add(2 * time.Hour)}
	c := newInmemCluster(t, 3, func(cfg *Config) {
		cfg.Now, cfg.TLSRPTAgeEvery, cfg.TLSRPTExpireAfter = clock.Now, 5*time.Millisecond, tlsrpt.ExpireAfter(6*time.Hour)
		// Nothing here partitions the cluster: timeouts a loaded machine
		// does not trip, so the leader stays the leader.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
	})
	leader := c.stores[c.leader(t, -1)]
	ctx := context.Background()
	// propose sends reports as the receiver does: to whichever node leads
	// now, again after a lost leadership.
	propose := func(r *mxv1.TLSReport) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			_, err := leader.ProposeTLSReports(ctx, []*mxv1.TLSReport{r})
			if err == nil {
				return
			}
			if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) { // a hang guard
				t.Fatal(err)
			}
			leader = c.stores[c.leader(t, -1)]
		}
	}
	propose(ageReport(t, "contoso.com", day, 412))
	reports := func(s *Store) []*mxv1.StoredResult {
		var out []*mxv1.StoredResult
		for _, tg := range []string{tlsrpt.DomainTarget("contoso.com"), tlsrpt.MXTarget("contoso.com", "mx.contoso.com")} {
			if r := reportResult(s.State(), tg); r != nil {
				out = append(out, r)
			}
		}
		return out
	}
	// agree waits until every node holds the leader's report results and
	// they satisfy ok.
	agree := func(what string, ok func([]*mxv1.StoredResult) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			want := reports(leader)
			same := ok(want)
			for _, s := range c.stores {
				got := reports(s)
				same = same && len(got) == len(want)
				for i := range got {
					same = same && i < len(want) && proto.Equal(got[i], want[i])
				}
			}
			if same {
				return
			}
			if time.Now().After(deadline) { // a hang guard, not a timing assertion
				t.Fatalf("%s: nodes never agreed; leader has %v", what, want)
			}
		}
	}
	allStale := func(want bool) func([]*mxv1.StoredResult) bool {
		return func(rs []*mxv1.StoredResult) bool {
			for _, r := range rs {
				if (r.GetStaleSince() != nil) != want {
					return false
				}
			}
			return len(rs) == 2
		}
	}
	agree("fresh results", allStale(false))
	clock.Set(end.Add(30*time.Hour + time.Minute)) // expiry: 24 h window + 6 h grace
	agree("aged results", allStale(true))
	if mx := reportResult(leader.State(), tlsrpt.MXTarget("contoso.com", "mx.contoso.com")); mx.GetResult().GetFindings()[0].GetSeverity() != mxv1.Severity_SEVERITY_WARNING ||
		!strings.Contains(mx.GetResult().GetFindings()[0].GetSummary(), "within 30 h") {
		t.Fatalf("aged MX result on the leader: %v", mx)
	}
	last := leader.raft.LastIndex()
	for range 3 { // ticks while nothing is due
		clock.Set(clock.Now().Add(time.Hour))
		time.Sleep(30 * time.Millisecond)
	}
	if n := leader.raft.LastIndex(); n != last {
		t.Fatalf("the tick proposed %d entries while nothing was due", n-last)
	}
	next := day.Add(72 * time.Hour)
	clock.Set(next.Add(26 * time.Hour))
	propose(ageReport(t, "contoso.com", next, 0))
	agree("current again", allStale(false))
}

// BenchmarkTLSReportAgeingDue: what the leader's tick costs every minute
// when nothing is due, at the report bound (20,000 reports over 1,000
// domains) beside 100,000 agent results.
func BenchmarkTLSReportAgeingDue(b *testing.B) {
	s := newState()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var reports []*mxv1.TLSReport
	for i := range MaxTLSReports {
		d := fmt.Sprintf("d%d.test", i%1000)
		reports = append(reports, &mxv1.TLSReport{ReportId: fmt.Sprint(i), Start: timestamppb.New(day), End: timestamppb.New(day.Add(24 * time.Hour)),
			Policies: []*mxv1.TLSReportPolicy{{PolicyType: "sts", PolicyDomain: d, Failures: []*mxv1.TLSReportFailure{{ResultType: "certificate-expired", ReceivingMxHostname: "mx." + d, FailedSessions: 1}}}}})
	}
	s.applyTLSReports(&mxv1.IngestTLSReports{Reports: reports}, timestamppb.New(day.Add(25*time.Hour)))
	for i := range 100000 {
		k := resultKey{fmt.Sprintf("agent%d", i/10), "smtp_probe", fmt.Sprintf("smtp://t%d:25", i)}
		s.results[k] = decodedResult(&mxv1.StoredResult{AgentId: k.agent, Result: &mxv1.CheckResult{Check: k.check, Target: k.target}})
	}
	now := day.Add(30 * time.Hour)
	b.ResetTimer()
	for range b.N {
		if s.TLSReportAgeingDue(now, tlsrpt.DefaultExpireAfter) {
			b.Fatal("due")
		}
	}
}
