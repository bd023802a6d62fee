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
	cpu, wall, compute, incidents, err := correlateAt(context.Background(), 2000, 2, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cpu) != 2 || len(wall) != 2 || len(compute) != 2 {
		t.Fatalf("%d, %d, %d figures for 2 runs", len(cpu), len(wall), len(compute))
	}
	if incidents == 0 {
		t.Fatal("the rounds stored no incident")
	}
	if err := runCorrelate(context.Background(), options{corrFindings: 1000, runs: 1}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
