package web

// The trend page (/trend): unresolved incidents and failing checks over the
// last days as two SVG step charts, and the same per day as a table.

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/text"
)

// trendSamples is the number of steps of a window (hourly over 7 days).
const trendSamples = 168

var trendChoices = []int{1, 3, 7, 14, 30}

type yTick struct {
	Y     int
	Label string
}

type band struct{ X, W int }

type trendChart struct {
	ID                         string
	Title, Desc                string
	Width, Height              int
	PlotX, PlotY, PlotW, PlotH int
	Base                       int
	Line, Area                 string
	Class                      string
	YTicks                     []yTick
	XTicks                     []chartTick
	Bands                      []band
	BandNote                   string
	// NoData is the part of the window before mxprobe observed the fleet
	// (W 0: none); nothing is drawn there.
	NoData     band
	NoDataNote string
	Now, Peak  int
}

type trendRow struct {
	Day              string
	Open, Failing    int
	OpenLow, FailLow bool
}

type dayChoice struct {
	Days   int
	Label  string
	Active bool
}

type trendView struct {
	Days      int
	Choices   []dayChoice
	Incidents trendChart
	Failing   trendChart
	Rows      []trendRow
	Checks    string
	Step      string
}

func (h *Handler) trend(w http.ResponseWriter, r *http.Request) {
	days := 7
	if q := r.URL.Query().Get("days"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || !slices.Contains(trendChoices, n) {
			h.renderError(w, r, http.StatusBadRequest, "days: one of 1, 3, 7, 14 or 30.")
			return
		}
		days = n
	}
	window := time.Duration(days) * 24 * time.Hour
	now := h.cfg.Now().UTC()
	incs, results := h.allIncidents(), h.allResults()
	d := buildTrend(incs, results, observedFrom(h.cfg.State.Agents(""), incs, results), now, window, h.cfg.IncidentRetention, trendSamples)
	v := trendView{Days: days, Checks: text.Count(d.Checks, "check"), Step: ago(window / trendSamples)}
	for _, c := range trendChoices {
		v.Choices = append(v.Choices, dayChoice{Days: c, Label: text.Count(c, "day"), Active: c == days})
	}
	noData := "no data before " + d.From.Format("Jan 2 15:04") + " UTC, when mxprobe first observed this fleet"
	v.Incidents = buildTrendChart("inc", "Unresolved incidents", "open or acknowledged", d.T, d.Open, d.First, noData,
		func(i int) bool { return !d.IncidentsFrom.IsZero() && d.T[i].Before(d.IncidentsFrom) },
		"resolved incidents older than the retention are dropped: a lower bound here")
	v.Failing = buildTrendChart("fail", "Failing checks", "checks whose latest outcome was FAIL or ERROR", d.T, d.Failing, d.First, noData,
		func(i int) bool { return d.Unknown[i] > 0 },
		fmt.Sprintf("some checks' history (their last %d outcome changes) does not reach back here: a lower bound", store.MaxResultHistory))
	// Per UTC day, newest first: the peaks (days before the fleet was
	// observed have none).
	for i := len(d.T) - 1; i >= d.First; i-- {
		day := d.T[i].Format("Mon 2 Jan")
		if len(v.Rows) == 0 || v.Rows[len(v.Rows)-1].Day != day {
			v.Rows = append(v.Rows, trendRow{Day: day})
		}
		row := &v.Rows[len(v.Rows)-1]
		row.Open, row.Failing = max(row.Open, d.Open[i]), max(row.Failing, d.Failing[i])
		row.OpenLow = row.OpenLow || !d.IncidentsFrom.IsZero() && d.T[i].Before(d.IncidentsFrom)
		row.FailLow = row.FailLow || d.Unknown[i] > 0
	}
	h.render(w, r, http.StatusOK, "trend", "Trend", "trend", v)
}

// allResults lists every check's latest result with its history.
func (h *Handler) allResults() []*mxv1.CheckResultRecord {
	out, _ := h.cfg.State.Results(store.ResultFilter{}, store.ResultKey{}, math.MaxInt)
	return out
}

// niceStep is 1, 2, 5, 10, 20, 50... so that max/step is at most 5.
func niceStep(maxV int) int {
	for step := 1; ; step *= 10 {
		for _, m := range []int{1, 2, 5} {
			if maxV <= 5*m*step {
				return m * step
			}
		}
	}
}

// buildTrendChart draws values (peaks per sample step) as a step line from
// sample first on (before it nothing was observed: noDataNote says so);
// lower(i) marks samples whose value is only a lower bound (shaded).
func buildTrendChart(id, title, what string, t []time.Time, values []int, first int, noDataNote string, lower func(int) bool, lowerNote string) trendChart {
	c := trendChart{ID: id, Title: title, Width: 960, Height: 230, PlotX: 56, PlotY: 14, PlotW: 880, PlotH: 170, Class: "trend-" + id}
	c.Base = c.PlotY + c.PlotH
	n := len(values) - 1
	peak := 0
	for _, v := range values[first:] {
		peak = max(peak, v)
	}
	c.Now, c.Peak = values[n], peak
	step := niceStep(max(peak, 1))
	top := step * ((max(peak, 1) + step - 1) / step)
	x := func(i int) int { return c.PlotX + i*c.PlotW/n }
	y := func(v int) int { return c.Base - v*c.PlotH/top }
	// Sample i is the peak over (t[i-1], t[i]]: a step from x(i-1) to x(i).
	start := max(first-1, 0)
	var b strings.Builder
	fmt.Fprintf(&b, "M%d %d", x(start), y(values[first]))
	for i := max(first, 1); i <= n; i++ {
		fmt.Fprintf(&b, " V%d H%d", y(values[i]), x(i))
	}
	c.Line = b.String()
	c.Area = c.Line + fmt.Sprintf(" V%d H%d Z", c.Base, x(start))
	if x(start) > x(0) {
		c.NoData, c.NoDataNote = band{X: x(0), W: x(start) - x(0)}, noDataNote
	}
	for v := 0; v <= top; v += step {
		c.YTicks = append(c.YTicks, yTick{Y: y(v), Label: strconv.Itoa(v)})
	}
	window := t[n].Sub(t[0])
	every := 24 * time.Hour
	format := "Jan 2"
	switch {
	case window <= 2*24*time.Hour:
		every, format = 6*time.Hour, "Jan 2 15:04"
	case window > 14*24*time.Hour:
		every = 3 * 24 * time.Hour
	}
	for tick := t[0].Truncate(every).Add(every); !tick.After(t[n]); tick = tick.Add(every) {
		c.XTicks = append(c.XTicks, chartTick{X: c.PlotX + int(int64(c.PlotW)*int64(tick.Sub(t[0]))/int64(window)), Label: tick.UTC().Format(format)})
	}
	for i := first; i <= n; i++ {
		if !lower(i) {
			continue
		}
		from := x(max(i-1, 0))
		if k := len(c.Bands); k > 0 && c.Bands[k-1].X+c.Bands[k-1].W == from {
			c.Bands[k-1].W = x(i) - c.Bands[k-1].X
		} else if x(i) > from {
			c.Bands = append(c.Bands, band{X: from, W: x(i) - from})
		}
	}
	if len(c.Bands) > 0 {
		c.BandNote = lowerNote
	}
	c.Desc = fmt.Sprintf("%s (%s) over %s: %d now, at most %d at once.", title, what, ago(window), c.Now, c.Peak)
	if c.NoDataNote != "" {
		c.Desc += " Nothing drawn: " + c.NoDataNote + "."
	}
	return c
}
