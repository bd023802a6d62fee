package web

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

var t0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

func at(h float64) *timestamppb.Timestamp {
	return timestamppb.New(t0.Add(time.Duration(h * float64(time.Hour))))
}

func hr(h float64) time.Time { return at(h).AsTime() }

func entry(h float64, kind string) *mxv1.TimelineEntry {
	return &mxv1.TimelineEntry{At: at(h), Kind: kind}
}

// An incident opened, acknowledged, resolved and reopened is unresolved in
// two spans; the second lasts.
func TestOpenSpansFollowTheTimeline(t *testing.T) {
	inc := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Timeline: []*mxv1.TimelineEntry{
		entry(1, incident.KindOpened), entry(2, incident.KindAcknowledged), entry(3, incident.KindObserved),
		entry(5, incident.KindResolved), entry(8, incident.KindReopened), entry(9, incident.KindObserved)}}
	got := openSpans(inc)
	if len(got) != 2 || !got[0].from.Equal(at(1).AsTime()) || !got[0].to.Equal(at(5).AsTime()) || !got[1].from.Equal(at(8).AsTime()) || !got[1].to.IsZero() {
		t.Fatalf("spans %v", got)
	}
	// A RESOLVED incident whose resolved entry fell out of a full timeline
	// ends at resolved_at, not never.
	inc = &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_RESOLVED, ResolvedAt: at(7), Timeline: []*mxv1.TimelineEntry{entry(1, incident.KindOpened)}}
	if got := openSpans(inc); len(got) != 1 || !got[0].to.Equal(at(7).AsTime()) {
		t.Fatalf("truncated timeline: %v", got)
	}
	// PENDING never opened.
	if got := openSpans(&mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_PENDING}); len(got) != 0 {
		t.Fatalf("pending: %v", got)
	}
}

func change(h float64, s mxv1.CheckStatus) *mxv1.ResultChange {
	return &mxv1.ResultChange{At: at(h), Status: s}
}

const (
	stOK   = mxv1.CheckStatus_CHECK_STATUS_OK
	stFail = mxv1.CheckStatus_CHECK_STATUS_FAIL
	stErr  = mxv1.CheckStatus_CHECK_STATUS_ERROR
)

func TestFailingSpansAndTheirHorizon(t *testing.T) {
	rec := &mxv1.CheckResultRecord{History: []*mxv1.ResultChange{change(0, stOK), change(2, stFail), change(3, stErr), change(4, stOK), change(6, stFail)}}
	spans, known := failingSpans(rec)
	if !known.IsZero() || len(spans) != 3 || !spans[0].to.Equal(at(3).AsTime()) || !spans[1].from.Equal(at(3).AsTime()) || !spans[2].to.IsZero() {
		t.Fatalf("spans %v known %v", spans, known)
	}
	// Retired: the last failure ends at the last commit.
	rec.Retired, rec.CommittedAt = true, at(7)
	if spans, _ := failingSpans(rec); !spans[2].to.Equal(at(7).AsTime()) {
		t.Fatalf("retired: %v", spans)
	}
	// A full history no longer holds the first result: unknown before it.
	var full []*mxv1.ResultChange
	for i := range store.MaxResultHistory {
		full = append(full, change(float64(10+i), []mxv1.CheckStatus{stFail, stOK}[i%2]))
	}
	if _, known := failingSpans(&mxv1.CheckResultRecord{History: full}); !known.Equal(at(10).AsTime()) {
		t.Fatalf("full history known from %v", known)
	}
}

// A failure shorter than a sample step still shows in its step; spans
// touching at one instant do not add up.
func TestPeaksKeepShortFailures(t *testing.T) {
	ts := samples(t0.Add(24*time.Hour), 24*time.Hour, 24) // hourly
	spans := []span{
		{hr(5.2), hr(5.3)},                       // 6 minutes inside (5h, 6h]
		{hr(10), hr(12)},                         // [10h, 12h)
		{hr(12), hr(13)},                         // starts where the previous ends
		{hr(-3), time.Time{}},                    // open since before the window
		{hr(-5), hr(-4)},                         // over before the window
		{hr(23.5), hr(30)},                       // runs past now
		{hr(20), hr(20.5)}, {hr(20.1), hr(20.2)}, // overlap: 2 at once
	}
	got := peaks(spans, ts)
	want := map[int]int{0: 1, 5: 1, 6: 2, 10: 2, 11: 2, 12: 2, 13: 2, 14: 1, 20: 2, 21: 3, 24: 2}
	for i, v := range got {
		w, ok := want[i]
		if !ok {
			w = 1
		}
		if v != w {
			t.Errorf("sample %d (%s): %d, want %d (all %v)", i, ts[i].Format("15:04"), v, w, got)
		}
	}
}

// /trend on the fixture: the seed incident and both failing checks count
// now; the window is chosen from a fixed list.
func TestTrendPage(t *testing.T) {
	f := newFixture(t)
	h := f.handler(func(c *Config) { c.IncidentRetention = 7 * 24 * time.Hour })
	open := 0
	for _, inc := range f.st.State().Incidents(incident.Filter{}) {
		if incident.Unresolved(inc) {
			open++
		}
	}
	w := f.get(h, "/trend")
	if w.Code != 200 {
		t.Fatalf("trend: %d %s", w.Code, w.Body)
	}
	b := w.Body.String()
	// The fixture's fleet was first observed moments ago: the week before
	// is no data, not zero.
	mustContain(t, "trend", b, fmt.Sprintf("Unresolved incidents: %d now", open), "Failing checks: 2 now", "2 checks in the fleet",
		`aria-current="page">Trend`, "Per day (UTC)", `class="line trend-inc"`, "7 days", `class="nodata"`, "Dashed: no data before ")
	if strings.Contains(b, `<path d="M56 `) {
		t.Error("the line starts at the window's start, a week before the fleet was observed")
	}
	if open == 0 {
		t.Fatal("the fixture has no unresolved incident")
	}
	if strings.Contains(b, "Shaded:") {
		t.Error("a 7-day window within a 7-day retention is marked as a lower bound")
	}
	if !regexp.MustCompile(`<th scope="row">[A-Z][a-z]{2} \d+ [A-Z][a-z]{2}</th><td>\d+</td><td>2</td>`).MatchString(b) {
		t.Errorf("no per-day row with today's 2 failing checks:\n%s", b)
	}
	// One row: today (the days before the fleet was observed have none).
	if n := strings.Count(b, `<th scope="row">`); n > 2 {
		t.Errorf("%d per-day rows for a fleet observed today", n)
	}
	if w := f.get(h, "/trend?days=2"); w.Code != 400 {
		t.Errorf("days=2: %d", w.Code)
	}
}

// A fleet first observed ten days ago, a 30-day window with a 7-day
// retention: nothing is drawn before the fleet was observed (no data, not
// zero), the retention shades as a lower bound only where there is data,
// and the counts start with what was first observed.
func TestTrendStartsWhenTheFleetWasObserved(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	from := now.Add(-10 * 24 * time.Hour)
	agents := []*mxv1.Agent{{AgentId: "edge01", FirstSeen: timestamppb.New(from)}, {AgentId: "edge02", FirstSeen: timestamppb.New(from.Add(time.Hour))}}
	inc := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, FirstSeen: timestamppb.New(from.Add(2 * time.Hour)),
		Timeline: []*mxv1.TimelineEntry{{At: timestamppb.New(from.Add(2 * time.Hour)), Kind: incident.KindOpened}}}
	res := &mxv1.CheckResultRecord{History: []*mxv1.ResultChange{{At: timestamppb.New(from.Add(30 * time.Minute)), Status: stFail}}}
	got := observedFrom(agents, []*mxv1.Incident{inc}, []*mxv1.CheckResultRecord{res})
	if !got.Equal(from) {
		t.Fatalf("observed from %v, want the first agent's first contact %v", got, from)
	}
	if z := observedFrom(nil, nil, nil); !z.IsZero() {
		t.Fatalf("empty state observed from %v", z)
	}
	const n = 30
	d := buildTrend([]*mxv1.Incident{inc}, []*mxv1.CheckResultRecord{res}, got, now, 30*24*time.Hour, 7*24*time.Hour, n)
	if d.First != 20 || d.T[d.First].Before(from) || !d.T[d.First-1].Before(from) {
		t.Fatalf("first sample %d (%v), want the first at or after %v", d.First, d.T[d.First], from)
	}
	c := buildTrendChart("inc", "Unresolved incidents", "open", d.T, d.Open, d.First, "no data before then",
		func(i int) bool { return d.T[i].Before(d.IncidentsFrom) }, "retention: a lower bound")
	x := func(i int) int { return c.PlotX + i*c.PlotW/n }
	if c.NoData.X != c.PlotX || c.NoData.W != x(d.First-1)-c.PlotX || c.NoDataNote == "" {
		t.Errorf("no-data band %+v (%q), want from the plot's start to sample %d", c.NoData, c.NoDataNote, d.First-1)
	}
	if !strings.HasPrefix(c.Line, fmt.Sprintf("M%d ", x(d.First-1))) {
		t.Errorf("line %q does not start where the data does (x=%d)", c.Line, x(d.First-1))
	}
	for _, b := range c.Bands {
		if b.X < x(d.First-1) {
			t.Errorf("lower-bound band %+v reaches into the no-data part", b)
		}
	}
	if len(c.Bands) == 0 || c.BandNote == "" {
		t.Errorf("days 10..7 before now are past the 7-day retention: no lower-bound band (%+v)", c.Bands)
	}
	if c.Now != 1 || c.Peak != 1 {
		t.Errorf("now %d peak %d, want 1 and 1", c.Now, c.Peak)
	}
	// Nothing observed at all: only now is known.
	e := buildTrend(nil, nil, time.Time{}, now, 7*24*time.Hour, 0, 24)
	if e.First != 24 {
		t.Errorf("empty state: first sample %d, want only the last (24)", e.First)
	}
	_ = buildTrendChart("fail", "Failing checks", "failing", e.T, e.Failing, e.First, "nothing observed yet", func(int) bool { return false }, "")
}
