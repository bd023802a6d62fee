package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The summary of -mode all: one table with every row of issue 20's table,
// each as min / median / max over -runs, its goal and whether it is met.
// Each mode puts its rows (put, by key) as it prints its own summary; a
// row no mode measured says which mode would have.

// row is one line of the summary.
type row struct {
	key    string
	what   string
	unit   string
	format string // of the figures, e.g. "%.0f"
	// goal in words, and the test of it: below (less than limit) or not
	// (at least limit); no goal when goal is "".
	goal  string
	below bool
	limit float64
	// value and the load when it was measured; measured is false for a
	// row nothing put.
	value    spread
	load     string
	measured bool
	// missing says what measures the row, when nothing did.
	missing string
}

// issueRows are issue 20's rows in its order, with their goals.
func issueRows() []row {
	return []row{
		{key: "logs", what: "agent check --protocol-logs vs grep -F -c, 1 GiB send log, end to end", unit: "x grep", format: "%.2f", goal: ">= 0.5x", limit: 0.5, missing: "-mode logs"},
		{key: "tput", what: "committed results/s, 3 nodes, fsync on, 1,000 agents, mutual TLS", unit: "results/s", format: "%.0f", goal: ">= 100,000", limit: 100000, missing: "-mode cluster"},
		{key: "ack-p99", what: "ack p99 at 10,000 results/s", unit: "ms", format: "%.1f", goal: "< 50 ms quiet", below: true, limit: 50, missing: "-mode cluster"},
		{key: "reopen-1000", what: "reopen of a node with 1,000 agents' state", unit: "s", format: "%.2f", missing: "-mode state"},
		{key: "rss-1000", what: "  its peak RSS", unit: "MiB", format: "%.0f", missing: "-mode state"},
		{key: "reopen-10000", what: "reopen of a node with 10,000 agents' state", unit: "s", format: "%.2f", missing: "-mode state"},
		{key: "rss-10000", what: "  its peak RSS", unit: "MiB", format: "%.0f", missing: "-mode state"},
		{key: "reopen-50000", what: "reopen of a node with 50,000 agents' state", unit: "s", format: "%.2f", goal: "< 10 s", below: true, limit: 10, missing: "-mode state"},
		{key: "rss-50000", what: "  its peak RSS", unit: "MiB", format: "%.0f", goal: "< 1.5 GB", below: true, limit: 1.5e9 / (1 << 20), missing: "-mode state"},
		// The correlation rows are put by -mode correlate (correlate.go)
		// under these keys.
		{key: "corr-10k", what: "correlation round, 10k findings, 1% changed (CPU)", unit: "ms", format: "%.0f", missing: "-mode correlate"},
		{key: "corr-100k", what: "correlation round, 100k findings, 1% changed (CPU)", unit: "ms", format: "%.0f", goal: "< 50 ms", below: true, limit: 50, missing: "-mode correlate"},
		{key: "incident-p50", what: "failure -> incident visible via API, p50, 1,000 agents reporting", unit: "ms", format: "%.0f", missing: "-mode cluster or incident"},
		{key: "incident-p99", what: "failure -> incident visible via API, p99, 1,000 agents reporting", unit: "ms", format: "%.0f", goal: "< 1 s loaded", below: true, limit: 1000, missing: "-mode cluster or incident"},
	}
}

// table collects the rows; a nil table takes nothing (single modes).
type table struct{ rows []row }

func newTable() *table { return &table{rows: issueRows()} }

// put fills the row of r.key with r's value and load (and its what, if r
// has one); a key not in issueRows (a -state-agents size) is added as r.
func (t *table) put(r row) {
	if t == nil {
		return
	}
	r.measured = true
	for i, x := range t.rows {
		if x.key != r.key {
			continue
		}
		x.value, x.load, x.measured = r.value, r.load, true
		if r.what != "" {
			x.what = r.what // what was measured differs from the issue's row (a smaller log)
		}
		t.rows[i] = x
		return
	}
	t.rows = append(t.rows, r)
}

// status says whether the goal is met: in every run (the worst run's
// figure meets it), by the median only, or not.
func (r row) status() string {
	switch {
	case !r.measured:
		return "not measured: " + r.missing
	case r.goal == "":
		return "-"
	}
	meets := func(v float64) bool {
		if r.below {
			return v < r.limit
		}
		return v >= r.limit
	}
	worst := r.value.min
	if r.below {
		worst = r.value.max
	}
	switch {
	case meets(worst):
		return "met (every run)"
	case meets(r.value.med):
		return "met (median; not every run)"
	default:
		return "not met"
	}
}

// print writes the table.
func (t *table) print(w io.Writer) {
	if t == nil {
		return
	}
	fmt.Fprintf(w, "summary of issue 20's table (min / median / max over the runs; load average when measured):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tmin / median / max\tgoal\tstatus\tload")
	for _, r := range t.rows {
		v, goal, load := "-", r.goal, r.load
		if r.measured {
			v = r.value.format(r.format) + " " + r.unit
		}
		if goal == "" {
			goal = "-"
		}
		if load == "" {
			load = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.what, v, goal, r.status(), load)
	}
	_ = tw.Flush()
}

// String is the table as print writes it.
func (t *table) String() string {
	var b strings.Builder
	t.print(&b)
	return b.String()
}
