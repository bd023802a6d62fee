package main

import (
	"context"
	"testing"
)

// TestCorrelateMode runs `mxbench -mode correlate` at a small fleet: the
// fleet restored into a one-node store, the leader's loop rounds after
// changed agent rounds. The rounds must have found incidents; it asserts
// no figure.
func TestCorrelateMode(t *testing.T) {
	if testing.Short() {
		t.Skip("a raft store and a few thousand findings")
	}
	fig, err := correlateAt(context.Background(), 2000, 2, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]float64{fig.cpu, fig.wall, fig.compute, fig.entryMB, fig.allocMB} {
		if len(f) != 2 {
			t.Fatalf("%d figures for 2 runs", len(f))
		}
	}
	if fig.incidents == 0 {
		t.Fatal("the rounds stored no incident")
	}
	if fig.entryMB[0] <= 0 || fig.allocMB[0] <= 0 {
		t.Fatalf("rounds that changed incidents wrote %v MB to raft, allocated %v MB", fig.entryMB, fig.allocMB)
	}
	if err := runCorrelate(context.Background(), options{corrFindings: 1000, runs: 1}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
