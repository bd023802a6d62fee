package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// corruptLast flips a byte in the payload of the newest record of the
// newest segment (a disk fault or a torn write).
func corruptLast(t *testing.T, dir string) uint64 {
	t.Helper()
	segs := segFiles(t, dir)
	for i := len(segs) - 1; i >= 0; i-- {
		recs := records(t, segs[i])
		if len(recs) == 0 {
			continue
		}
		last := recs[len(recs)-1]
		b, err := os.ReadFile(segs[i])
		if err != nil {
			t.Fatal(err)
		}
		b[last.off+last.size-1] ^= 0xff
		if err := os.WriteFile(segs[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
		return last.seq
	}
	t.Fatal("no record to corrupt")
	return 0
}

// The sequence: the controller committed seq 5, the agent was
// killed before it recorded the ack, record 5 is damaged. The next batch
// must be 6, never 5 again (a reused 5 would be taken for a replay and
// dropped by the controller, with whatever it reported), and since the
// controller has 5 nothing is reported lost.
func TestCorruptTailAlreadyCommittedIsNotReusedNorLost(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 5, 2)
	s.Trim(4)
	crash(s)
	if seq := corruptLast(t, dir); seq != 5 {
		t.Fatalf("corrupted %d", seq)
	}
	s = openT(t, dir, Options{})
	defer s.Close()
	if s.LastSeq() != 5 {
		t.Fatalf("LastSeq %d after the damaged tail, want 5 (never reuse it)", s.LastSeq())
	}
	if l := s.Loss(); l.Unresolved != 1 || l.Batches() != 0 {
		t.Fatalf("Loss before the Welcome: %+v", l)
	}
	appendT(t, s, 6, 6, 1) // a round while offline
	s.Trim(5)              // Welcome: last_committed_seq 5
	s.ResolveMissing(5)
	if l := s.Loss(); l.Batches() != 0 || l.Unresolved != 0 {
		t.Fatalf("an acknowledged record found damaged counted as lost: %+v", l)
	}
	wantSeqs(t, s.Pending(5), []uint64{6})
}

// The same damage when the controller never got seq 5: lost, counted
// once (also across restarts), carried with its cause.
func TestCorruptTailNotCommittedIsLostOnce(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 5, 2)
	s.Trim(4)
	crash(s)
	corruptLast(t, dir)
	s = openT(t, dir, Options{})
	s.ResolveMissing(4)
	l := s.Loss()
	if l.Corrupt != 1 || l.Batches() != 1 || l.Since.IsZero() {
		t.Fatalf("Loss = %+v, want 1 corrupt", l)
	}
	if p := l.Proto(); p.GetCorrupt() != 1 || p.GetSince() == nil {
		t.Fatalf("Proto = %v", p)
	}
	s.Close()
	for range 2 {
		s = openT(t, dir, Options{})
		s.ResolveMissing(4)
		if l := s.Loss(); l.Corrupt != 1 || l.Unresolved != 0 {
			t.Fatalf("after restart: %+v (counted again?)", l)
		}
		s.Close()
	}
}

// Drops are counted with their results, persisted across restarts, and a
// report counts as delivered once the batch carrying it is acknowledged.
func TestLossCountersPersistAndReportsAck(t *testing.T) {
	dir := tempdir.New(t)
	rec := int64(len(encodeRecord(10, 3, mustMarshal(t, batch(10, 3)))))
	opts := Options{MaxBytes: 4 * rec, Sync: SyncNone}
	s := openT(t, dir, opts)
	appendT(t, s, 10, 19, 3) // 6 dropped, 3 results each
	l := s.Loss()
	if l.DroppedFull != 6 || l.Results != 18 || l.Reported != 0 {
		t.Fatalf("Loss = %+v", l)
	}
	crash(s) // nothing but the Appends' own meta writes
	s = openT(t, dir, opts)
	if l := s.Loss(); l.DroppedFull != 6 || l.Results != 18 {
		t.Fatalf("after a crash: %+v", l)
	}
	b := batch(20, 3)
	b.SpoolLoss = s.Loss().Proto()
	if err := s.Append(b); err != nil { // larger: drops two more
		t.Fatal(err)
	}
	total := s.Loss().Batches()
	if total <= 6 {
		t.Fatalf("Append of a larger batch into a full spool dropped nothing: %+v", s.Loss())
	}
	s.Trim(19)
	if l := s.Loss(); l.Reported != 0 {
		t.Fatalf("report counted before its batch was acked: %+v", l)
	}
	s.Trim(20)
	if l := s.Loss(); l.Reported != 6 || l.Batches() != total {
		t.Fatalf("after the ack: %+v, want 6 of %d reported", l, total)
	}
	s.Close()
	s = openT(t, dir, opts)
	defer s.Close()
	if l := s.Loss(); l.Reported != 6 || l.DroppedFull != total || l.Results != 3*total {
		t.Fatalf("after restart: %+v", l)
	}
}

// A version 1 meta file (before loss accounting) is read and upgraded.
func TestMetaVersion1Upgraded(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 4, 1)
	crash(s)
	v1 := make([]byte, metaV1Size)
	copy(v1, metaMagic[:])
	binary.LittleEndian.PutUint32(v1[4:8], 1)
	binary.LittleEndian.PutUint64(v1[8:16], 4)
	binary.LittleEndian.PutUint64(v1[16:24], 2)
	binary.LittleEndian.PutUint32(v1[28:32], crc32c(v1[:28]))
	if err := os.WriteFile(filepath.Join(dir, metaName), v1, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	defer s.Close()
	wantSeqs(t, s.Pending(0), []uint64{3, 4})
	if st := s.Stats(); st.Corrupt != 0 || st.Floor != 2 {
		t.Fatalf("Stats %+v", st)
	}
	if m, _, err := readMeta(dir); err != nil || m.version != metaVersion || m.floor != 2 || m.lastSeq != 4 {
		t.Fatalf("meta not upgraded: %+v %v", m, err)
	}
}

// Inspect changes nothing on disk, even with a stale meta.tmp and damage.
func TestInspectIsReadOnly(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 6, 1)
	s.Trim(3)
	crash(s)
	corruptLast(t, dir)
	if err := os.WriteFile(filepath.Join(dir, metaTmpName), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, dir)
	in, err := Inspect(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if st, l := in.Stats(), in.Loss(); st.Floor != 3 || st.LastSeq != 6 || st.Batches != 2 || l.Unresolved != 1 {
		t.Fatalf("Inspect: %+v %+v", st, l)
	}
	if after := snapshotDir(t, dir); !bytes.Equal(before, after) {
		t.Fatal("Inspect changed the spool directory")
	}
	if _, err := Inspect(filepath.Join(dir, "nope"), Options{}); err == nil {
		t.Fatal("Inspect of a missing directory succeeded (and maybe created it)")
	}
}

func snapshotDir(t *testing.T, dir string) []byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, de := range des {
		b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
		out = append(append(append(out, de.Name()...), 0), b...)
	}
	return out
}

// mountTmpfs mounts a tmpfs of size bytes (root on Linux only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to mount a small tmpfs")
	}
	dir := tempdir.New(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// ENOSPC on the spool's disk: the rounds that cannot be stored are counted
// (none silently lost), never reuse a sequence number, and the count
// reaches the meta file once space is back.
func TestDiskFullCounted(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	s := openT(t, dir, Options{})
	defer s.Close()
	appendT(t, s, 1, 3, 2)
	// Fill the file system.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	failed := 0
	seq := s.LastSeq()
	for range 5 {
		seq = s.LastSeq() + 1
		err := s.Append(batch(seq, 4))
		if err == nil {
			t.Fatalf("Append %d succeeded on a full disk", seq)
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Logf("Append %d: %v", seq, err)
		}
		failed++
	}
	l := s.Loss()
	if l.WriteFailed != uint64(failed) || l.Results != uint64(4*failed) {
		t.Fatalf("Loss = %+v after %d failed appends", l, failed)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	next := s.LastSeq() + 1
	if err := s.Append(batch(next, 1)); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, s.Pending(3), []uint64{next})
	if m, _, err := readMeta(dir); err != nil || m.loss.write != uint64(failed) {
		t.Fatalf("meta after space came back: %+v %v", m, err)
	}
	// Counted once: no restart re-counts them.
	s.Close()
	s2 := openT(t, dir, Options{})
	defer s2.Close()
	s2.ResolveMissing(3)
	if l := s2.Loss(); l.WriteFailed != uint64(failed) || l.Corrupt != 0 {
		t.Fatalf("after restart: %+v", l)
	}
}
