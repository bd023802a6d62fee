package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIncidentMode runs the failure -> incident measurement on the secure
// three-node cluster with a small fleet streaming: every new server's
// failure is found as an open incident through the API (its
// incident.opened on the follower's event stream, then GET), under the
// shipped damping (each first seen PENDING), and every sample is counted
// into the summary table. It asserts no figure.
func TestIncidentMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the controller and starts three processes")
	}
	ctx := context.Background()
	o := options{agents: 20, results: 5, rate: 200, depth: 2, conns: 1, runs: 1, incidentSamples: 3, table: newTable()}
	c, l, err := startCluster(ctx, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	fleet, l, err := connectFleet(ctx, c, o, "agent")
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	r, err := incidentOnce(ctx, c, l, fleet, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.visible) != o.incidentSamples || len(r.acked) != o.incidentSamples || len(r.committed) != o.incidentSamples {
		t.Fatalf("%d visible, %d acked, %d committed samples, want %d each", len(r.visible), len(r.acked), len(r.committed), o.incidentSamples)
	}
	if obs, _ := damping(); obs > 1 && len(r.pending) != o.incidentSamples {
		t.Errorf("damping at %d observations: %d incidents seen PENDING first, want %d", obs, len(r.pending), o.incidentSamples)
	}
	for i, d := range r.visible {
		if d <= 0 || r.committed[i] > d+time.Second {
			// The event is committed (leader clock) before it arrives on
			// the follower's stream (same machine, same clock).
			t.Errorf("sample %d: visible after %v, committed after %v", i, d, r.committed[i])
		}
	}
	if r.bg.achieved <= 0 {
		t.Errorf("background fleet acked nothing (%+v)", r.bg)
	}
	incidentSummary([]incidentRun{r}, o, o.table)
	for _, key := range []string{"incident-p50", "incident-p99"} {
		if !rowOf(o.table, key).measured {
			t.Errorf("row %s not in the summary:\n%s", key, o.table)
		}
	}
}

func rowOf(t *table, key string) row {
	for _, r := range t.rows {
		if r.key == key {
			return r
		}
	}
	return row{}
}

// The summary says per row whether its goal is met in every run, by the
// median only, or not, and what would measure a row nothing measured.
func TestSummaryTable(t *testing.T) {
	tb := newTable()
	tb.put(row{key: "incident-p99", value: spread{400, 700, 1200}, load: "3.1"})
	tb.put(row{key: "tput", value: spread{80000, 90000, 110000}})
	tb.put(row{key: "logs", value: spread{0.6, 0.7, 0.8}})
	tb.put(row{key: "reopen-300", what: "reopen of a node with 300 agents' state", unit: "s", format: "%.2f", value: spread{1, 1, 1}})
	for key, want := range map[string]string{
		"incident-p99": "met (median; not every run)", "tput": "not met", "logs": "met (every run)",
		"incident-p50": "not measured: -mode cluster or incident", "reopen-300": "-",
	} {
		if got := rowOf(tb, key).status(); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	out := tb.String()
	for _, want := range []string{"400 / 700 / 1200 ms", "< 1 s loaded", "reopen of a node with 300 agents' state", "-mode correlate"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
