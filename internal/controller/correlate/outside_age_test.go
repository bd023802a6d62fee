package correlate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// testClock is the leader's clock of a test: the store stamps commands
// with it and the loop correlates at it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// dayReport is a daily report from Microsoft for contoso.com for the day
// that starts at day: failed sessions to mail.contoso.com (0: a clean day).
func dayReport(t *testing.T, day time.Time, failed int) *mxv1.TLSReport {
	t.Helper()
	details := ""
	if failed > 0 {
		details = fmt.Sprintf(`,"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mail.contoso.com","receiving-ip":"203.0.113.25","failed-session-count":%d}]`, failed)
	}
	j := fmt.Sprintf(`{"organization-name":"Microsoft Corporation","date-range":{"start-datetime":%q,"end-datetime":%q},"report-id":"ms-%s",
"policies":[{"policy":{"policy-type":"sts","policy-domain":"contoso.com"},"summary":{"total-successful-session-count":500,"total-failure-session-count":%d}%s}]}`,
		day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339), day.Format("2006-01-02"), failed, details)
	r, err := tlsrpt.Parse([]byte(j))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type reportRig struct {
	t     *testing.T
	st    *store.Store
	clock *testClock
	loop  *Loop
}

func newReportRig(t *testing.T, start time.Time) *reportRig {
	clock := &testClock{now: start}
	st := storetest.Open(t, func(c *store.Config) { c.Now = clock.Now; c.TLSRPTAgeEvery = 5 * time.Millisecond })
	return &reportRig{t: t, st: st, clock: clock, loop: NewLoop(st, LoopConfig{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})}
}

func (r *reportRig) ingest(rep *mxv1.TLSReport) {
	r.t.Helper()
	if _, err := r.st.ProposeTLSReports(context.Background(), []*mxv1.TLSReport{rep}); err != nil {
		r.t.Fatal(err)
	}
}

// round correlates at the clock and returns the incident of the MX (nil:
// none).
func (r *reportRig) round() *mxv1.Incident {
	r.t.Helper()
	if _, err := r.loop.Round(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	var found *mxv1.Incident
	for _, inc := range r.st.State().Incidents(incident.Filter{}) {
		if inc.GetCause() == "TLSRPT_FAILURES" {
			if found != nil {
				r.t.Fatalf("two report incidents: %v and %v", found, inc)
			}
			found = inc
		}
	}
	return found
}

// open ingests the failing report of day and correlates until its incident
// is open (damping: OpenAfter passes on the clock).
func (r *reportRig) open(day time.Time) *mxv1.Incident {
	r.t.Helper()
	r.clock.Set(day.Add(30 * time.Hour))
	r.ingest(dayReport(r.t, day, 412))
	r.round()
	r.clock.Set(r.clock.Now().Add(10 * time.Minute))
	inc := r.round()
	if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || inc.GetSeverity() != mxv1.Severity_SEVERITY_ERROR || inc.GetStale() {
		r.t.Fatalf("after a failing report: %v", inc)
	}
	return inc
}

// An incident opened by reports alone resolves after two clean reports for
// the domain, each a clean observation (through real raft: the reports are
// committed, the results derived in the FSM, the rounds committed).
func TestReportIncidentResolvesAfterTwoCleanReports(t *testing.T) {
	d1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newReportRig(t, d1)
	r.open(d1)
	for i, want := range []mxv1.IncidentState{mxv1.IncidentState_INCIDENT_STATE_OPEN, mxv1.IncidentState_INCIDENT_STATE_RESOLVED} {
		day := d1.Add(time.Duration(i+1) * 24 * time.Hour)
		r.clock.Set(day.Add(30 * time.Hour))
		r.ingest(dayReport(t, day, 0))
		inc := r.round()
		if inc.GetState() != want || inc.GetStale() {
			t.Fatalf("after clean report %d: state %v stale %v (clean observations %d), want %v", i+1, inc.GetState(), inc.GetStale(), inc.GetCleanObservations(), want)
		}
		if i == 0 && inc.GetCleanObservations() != 1 {
			t.Fatalf("first clean report counted %d clean observations", inc.GetCleanObservations())
		}
	}
	// Re-running rounds on the same data counts nothing more.
	if inc := r.round(); inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("resolved incident changed on a repeated round: %v", inc)
	}
}

// No report for longer than the expiry is not healthy: the leader's tick
// ages the results, the incident stays open, marked stale, its member says
// what was last known at WARNING, and no number of rounds resolves it; the
// next two clean reports do.
func TestReportIncidentGoesStaleWithoutReports(t *testing.T) {
	d1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newReportRig(t, d1)
	r.open(d1)
	// Newest report ended 2026-12-02 00:00; default expiry 72 h.
	r.clock.Set(d1.Add(24*time.Hour + tlsrpt.DefaultExpireAfter - time.Minute))
	time.Sleep(50 * time.Millisecond) // ticks that must not age anything yet
	if fs := r.st.State().Findings(store.FindingFilter{AgentID: tlsrpt.AgentID}); len(fs) != 1 || fs[0].GetFinding().GetEvidence()["stale"] != "" {
		t.Fatalf("aged before the expiry: %v", fs)
	}
	r.clock.Set(d1.Add(24*time.Hour + tlsrpt.DefaultExpireAfter + time.Minute))
	waitAged(t, r.st)
	var inc *mxv1.Incident
	for range 3 {
		r.clock.Set(r.clock.Now().Add(time.Hour))
		inc = r.round()
		if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || !inc.GetStale() || inc.GetCleanObservations() != 0 {
			t.Fatalf("without reports: state %v stale %v clean %d, want open, stale, no clean observation", inc.GetState(), inc.GetStale(), inc.GetCleanObservations())
		}
	}
	if inc.GetSeverity() != mxv1.Severity_SEVERITY_WARNING || len(inc.GetMembers()) != 1 || !inc.GetMembers()[0].GetStale() {
		t.Fatalf("stale incident: severity %v members %v", inc.GetSeverity(), inc.GetMembers())
	}
	if s := inc.GetMembers()[0].GetFinding().GetSummary(); !strings.Contains(s, "is unknown") || !strings.Contains(s, "The last reports said: Microsoft Corporation failed 412 sessions") {
		t.Fatalf("stale member summary: %q", s)
	}
	// The timeline says the reports stopped, not that agents went silent.
	var staleEvent string
	for _, e := range inc.GetTimeline() {
		if e.GetKind() == incident.KindStale {
			staleEvent = e.GetComment()
		}
	}
	if want := "TLS-RPT reports stopped for contoso.com (none since 2026-12-02 00:00 UTC, due within 72 h): what senders see now is unknown"; staleEvent != want {
		t.Fatalf("stale event %q, want %q (timeline %v)", staleEvent, want, inc.GetTimeline())
	}
	// The first clean report after the silence is current evidence: the
	// stale mark goes (the incident stays open until the second).
	d5 := d1.Add(5 * 24 * time.Hour)
	for i, want := range []mxv1.IncidentState{mxv1.IncidentState_INCIDENT_STATE_OPEN, mxv1.IncidentState_INCIDENT_STATE_RESOLVED} {
		day := d5.Add(time.Duration(i) * 24 * time.Hour)
		r.clock.Set(day.Add(30 * time.Hour))
		r.ingest(dayReport(t, day, 0))
		if inc = r.round(); inc.GetState() != want || inc.GetStale() || slices.ContainsFunc(inc.GetMembers(), (*mxv1.IncidentMember).GetStale) {
			t.Fatalf("clean report %d after the silence: state %v stale %v members %v, want %v and nothing stale", i+1, inc.GetState(), inc.GetStale(), inc.GetMembers(), want)
		}
		if i == 0 {
			last := inc.GetTimeline()[len(inc.GetTimeline())-1]
			if last.GetKind() != incident.KindObserved || last.GetComment() != "TLS-RPT reports for contoso.com arrive again: that evidence is current and clean" {
				t.Fatalf("timeline after the first clean report: %v", last)
			}
		}
	}
}

// waitAged waits (bounded by the test's deadline, not timed) until the
// leader's tick aged the report results.
func waitAged(t *testing.T, st *store.Store) {
	t.Helper()
	for {
		fs := st.State().Findings(store.FindingFilter{AgentID: tlsrpt.AgentID})
		aged := 0
		for _, f := range fs {
			if f.GetFinding().GetEvidence()["stale"] == "true" {
				aged++
			}
		}
		if len(fs) > 0 && aged == len(fs) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
