package store

import (
	"context"
	"testing"
	"time"
)

// TestRestoreIsCompacted: after a RestoreState command is applied the node
// snapshots and drops the log entries up to it, so a restart restores the
// snapshot and does not replay the backup as a command.
func TestRestoreIsCompacted(t *testing.T) {
	ctx := context.Background()
	src := openTestStore(t, t.TempDir(), freePort(t))
	if _, err := src.Apply(ctx, ingestCmd(batch("edge02", 1, "CERT_NO_PRIVATE_KEY"))); err != nil {
		t.Fatal(err)
	}
	backup, err := src.Backup()
	src.Close()
	if err != nil {
		t.Fatal(err)
	}

	dir, addr := t.TempDir(), freePort(t)
	s := openTestStore(t, dir, addr)
	if err := s.Restore(ctx, backup); err != nil {
		t.Fatal(err)
	}
	// LastIndex, not AppliedIndex: the restore's entry is in the log once
	// Restore returned, while AppliedIndex may not have moved yet (it read
	// 0 on a loaded machine).
	restoredAt := s.raft.LastIndex()
	deadline := time.Now().Add(time.Minute) // a hang guard: a loaded machine only makes this slower
	first := func() uint64 {
		i, err := s.logs.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	// Compacted: a snapshot at or after the restore, and the log starting
	// after it (FirstIndex is 0 once the log is empty).
	compacted := func() bool {
		snaps, err := s.snaps.List()
		if err != nil {
			t.Fatal(err)
		}
		f := first()
		return len(snaps) > 0 && snaps[0].Index >= restoredAt && (f == 0 || f > restoredAt)
	}
	for !compacted() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !compacted() {
		snaps, err := s.snaps.List()
		t.Fatalf("raft log starts at %d, snapshots %+v (%v); the restore was entry %d", first(), snaps, err, restoredAt)
	}
	// Later entries still apply and survive a restart with the restored state.
	if _, err := s.Apply(ctx, ingestCmd(batch("edge03", 1, "CERT_EXPIRED"))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTestStore(t, dir, addr)
	defer s2.Close()
	deadline = time.Now().Add(time.Minute)
	for len(s2.State().Findings(FindingFilter{})) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fs := s2.State().Findings(FindingFilter{}); len(fs) != 2 {
		t.Fatalf("after restart %d findings %v, want the restored one and the later one", len(fs), fs)
	}
}
