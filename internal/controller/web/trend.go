package web

// The trend view's numbers: how many incidents were unresolved and how many
// checks were failing over a window of days, rebuilt from what the
// replicated state already keeps. No time series is stored: incidents keep
// their timeline (opened, reopened, resolved; bounded by
// incident.MaxTimeline, the first entry always kept) until they are dropped
// correlation retention after resolving, and every check keeps its last
// store.MaxResultHistory outcome changes. Where that history does not reach
// back, the counts are lower bounds and the page says so.

import (
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// span is [from, to); a zero to means it still lasts.
type span struct{ from, to time.Time }

// openSpans are the intervals in which inc was OPEN or ACKNOWLEDGED, from
// its timeline (opened/reopened start one, resolved ends it).
func openSpans(inc *mxv1.Incident) []span {
	tl := slices.Clone(inc.GetTimeline())
	slices.SortStableFunc(tl, func(a, b *mxv1.TimelineEntry) int { return a.GetAt().AsTime().Compare(b.GetAt().AsTime()) })
	var out []span
	var start time.Time
	open := false
	for _, e := range tl {
		if e.GetAt() == nil {
			continue
		}
		at := e.GetAt().AsTime()
		switch e.GetKind() {
		case incident.KindOpened, incident.KindReopened:
			if !open {
				open, start = true, at
			}
		case incident.KindResolved:
			if open {
				out = append(out, span{start, at})
				open = false
			}
		}
	}
	if !open && len(out) == 0 && incident.Unresolved(inc) && inc.GetOpenedAt() != nil {
		open, start = true, inc.GetOpenedAt().AsTime() // a timeline without its opening (never expected)
	}
	if open {
		var end time.Time
		if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED && inc.GetResolvedAt() != nil {
			end = inc.GetResolvedAt().AsTime() // the resolved entry fell out of a full timeline
		}
		out = append(out, span{start, end})
	}
	return out
}

func failing(s mxv1.CheckStatus) bool {
	return s == mxv1.CheckStatus_CHECK_STATUS_FAIL || s == mxv1.CheckStatus_CHECK_STATUS_ERROR
}

// failingSpans are the intervals in which a check's outcome was FAIL or
// ERROR, from its history of outcome changes. knownFrom is when that
// history starts being complete: zero when it holds the check's first
// result, else its oldest kept change (before it, the outcome is unknown).
// A retired check (its agent no longer runs it) ends at its last commit.
func failingSpans(rec *mxv1.CheckResultRecord) (spans []span, knownFrom time.Time) {
	h := rec.GetHistory()
	if len(h) == 0 {
		return nil, time.Time{}
	}
	if len(h) >= store.MaxResultHistory {
		knownFrom = h[0].GetAt().AsTime()
	}
	for i, c := range h {
		if !failing(c.GetStatus()) {
			continue
		}
		s := span{from: c.GetAt().AsTime()}
		switch {
		case i+1 < len(h):
			s.to = h[i+1].GetAt().AsTime()
		case rec.GetRetired() && rec.GetCommittedAt() != nil:
			s.to = rec.GetCommittedAt().AsTime()
		}
		spans = append(spans, s)
	}
	return spans, knownFrom
}

// samples are the instants of a window: t[0] = now-window, t[n] = now.
func samples(now time.Time, window time.Duration, n int) []time.Time {
	start := now.Add(-window)
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = start.Add(time.Duration(int64(window) * int64(i) / int64(n)))
	}
	out[n] = now
	return out
}

// peaks returns, for each sample, the most spans that held at once: at
// t[0] the spans holding then, for i > 0 the peak over (t[i-1], t[i]], so a
// failure shorter than a sample step still shows.
func peaks(spans []span, t []time.Time) []int {
	type ev struct {
		at time.Time
		d  int
	}
	start, end := t[0], t[len(t)-1]
	cur := 0
	var evs []ev
	for _, s := range spans {
		if !s.to.IsZero() && !s.to.After(start) || s.from.After(end) {
			continue
		}
		if !s.from.After(start) {
			cur++
		} else {
			evs = append(evs, ev{s.from, +1})
		}
		if !s.to.IsZero() && !s.to.After(end) {
			evs = append(evs, ev{s.to, -1})
		}
	}
	// Ends before starts at the same instant: [from, to) does not overlap
	// a span starting at its end.
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	out := make([]int, len(t))
	out[0] = cur
	j := 0
	for i := 1; i < len(t); i++ {
		peak := cur
		for ; j < len(evs) && !evs[j].at.After(t[i]); j++ {
			cur += evs[j].d
			peak = max(peak, cur)
		}
		out[i] = peak
	}
	return out
}

// trendData is the window's two series.
type trendData struct {
	T []time.Time
	// Open: unresolved incidents; Failing: checks failing; Unknown: checks
	// whose outcome the bounded history no longer knows at that time.
	Open, Failing, Unknown []int
	// IncidentsFrom: before it, resolved incidents may already have been
	// dropped (retention), so Open is a lower bound (zero: the whole window
	// is within retention).
	IncidentsFrom time.Time
	Checks        int
	// From is when mxprobe first observed anything of this fleet (its
	// first agent, incident or result); First the first sample at or after
	// it. Before it nothing was observed: no count, not zero.
	From  time.Time
	First int
}

// observedFrom is the earliest instant the state knows anything about:
// agents' first contact, incidents' first sighting, results' oldest kept
// change (zero when the state is empty).
func observedFrom(agents []*mxv1.Agent, incs []*mxv1.Incident, results []*mxv1.CheckResultRecord) time.Time {
	var from time.Time
	note := func(ts *timestamppb.Timestamp) {
		if ts == nil || ts.GetSeconds() <= 0 {
			return
		}
		if t := ts.AsTime(); from.IsZero() || t.Before(from) {
			from = t
		}
	}
	for _, a := range agents {
		note(a.GetFirstSeen())
	}
	for _, inc := range incs {
		note(inc.GetFirstSeen())
	}
	for _, r := range results {
		if h := r.GetHistory(); len(h) > 0 {
			note(h[0].GetAt())
		}
	}
	return from
}

// buildTrend counts over the window's samples; from is observedFrom (zero:
// nothing observed yet, only "now" is known).
func buildTrend(incs []*mxv1.Incident, results []*mxv1.CheckResultRecord, from, now time.Time, window, retention time.Duration, n int) trendData {
	d := trendData{T: samples(now, window, n), Checks: len(results), From: from}
	if from.IsZero() {
		d.From = now
	}
	// Sample i covers (t[i-1], t[i]]: the first one reaching past From.
	d.First = n
	for i := range d.T {
		if !d.T[i].Before(d.From) {
			d.First = i
			break
		}
	}
	var open, fail, unknown []span
	for _, inc := range incs {
		open = append(open, openSpans(inc)...)
	}
	for _, r := range results {
		s, known := failingSpans(r)
		fail = append(fail, s...)
		if !known.IsZero() {
			unknown = append(unknown, span{from: d.T[0].Add(-time.Hour), to: known})
		}
	}
	d.Open, d.Failing, d.Unknown = peaks(open, d.T), peaks(fail, d.T), peaks(unknown, d.T)
	if retention > 0 && window > retention {
		d.IncidentsFrom = now.Add(-retention)
	}
	return d
}
