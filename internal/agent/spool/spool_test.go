package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func TestRoundTrip(t *testing.T) {
	s := openT(t, tempdir.New(t), Options{})
	defer s.Close()
	var want []*mxv1.ResultBatch
	for seq := uint64(1); seq <= 40; seq++ {
		b := batch(seq, int(seq%7)) // includes empty batches
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	wantEqual(t, s.Pending(0), want)
	wantEqual(t, s.Pending(25), want[25:])
	wantSeqs(t, s.Pending(40), nil)
	if got := s.LastSeq(); got != 40 {
		t.Fatalf("LastSeq = %d", got)
	}
	st := s.Stats()
	if st.Batches != 40 || st.FirstSeq != 1 || st.LastSeq != 40 || st.Dropped != 0 || st.Corrupt != 0 || st.Bytes <= 0 || st.DiskBytes != st.Bytes {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestAppendRejects(t *testing.T) {
	s := openT(t, tempdir.New(t), Options{MaxBytes: 4096})
	appendT(t, s, 5, 5, 1)
	for _, seq := range []uint64{0, 3, 5} {
		if err := s.Append(batch(seq, 1)); !errors.Is(err, ErrSeqNotIncreasing) {
			t.Fatalf("Append(%d) = %v, want ErrSeqNotIncreasing", seq, err)
		}
	}
	if err := s.Append(batch(6, 100)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(huge) = %v, want ErrTooLarge", err)
	}
	if err := s.Append(nil); err == nil {
		t.Fatal("Append(nil) succeeded")
	}
	// Rejected batches left nothing behind.
	appendT(t, s, 6, 6, 1)
	wantSeqs(t, s.Pending(0), []uint64{5, 6})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(batch(7, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := s.Each(0, func(*mxv1.ResultBatch) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Each after Close = %v, want ErrClosed", err)
	}
	if s.LastSeq() != 6 {
		t.Fatal("LastSeq after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := Open(tempdir.New(t), Options{MaxBytes: -1}); err == nil {
		t.Fatal("Open accepted negative MaxBytes")
	}
}

func TestRestartReplaysInOrder(t *testing.T) {
	for _, mode := range []string{"close", "crash"} {
		t.Run(mode, func(t *testing.T) {
			dir := tempdir.New(t)
			opts := Options{SegmentBytes: 2048, Sync: SyncNone}
			s := openT(t, dir, opts)
			want := appendT(t, s, 1, 60, 3)
			if n := len(segFiles(t, dir)); n < 5 {
				t.Fatalf("only %d segments; test wants several", n)
			}
			if mode == "close" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				crash(s)
			}
			s = openT(t, dir, opts)
			wantEqual(t, s.Pending(0), want)
			if s.LastSeq() != 60 || s.Stats().Corrupt != 0 {
				t.Fatalf("after reopen: %+v", s.Stats())
			}
			// Appends continue in a fresh segment, after the old ones.
			more := appendT(t, s, 61, 70, 3)
			crash(s)
			s = openT(t, dir, opts)
			defer s.Close()
			wantEqual(t, s.Pending(0), append(want, more...))
		})
	}
}

func TestTrimThenRestartNoResend(t *testing.T) {
	dir := tempdir.New(t)
	opts := Options{SegmentBytes: 2048}
	s := openT(t, dir, opts)
	want := appendT(t, s, 1, 60, 3)
	before := len(segFiles(t, dir))

	s.Trim(37) // lands inside a segment
	wantEqual(t, s.Pending(0), want[37:])
	after := len(segFiles(t, dir))
	if after >= before {
		t.Fatalf("Trim deleted no segment: %d -> %d files", before, after)
	}
	// The oldest remaining segment is partially acknowledged.
	if recs := records(t, segFiles(t, dir)[0]); recs[0].seq > 37 {
		t.Fatalf("oldest segment starts at %d; test wants a partially acked one", recs[0].seq)
	}
	s.Trim(20) // stale ack: no effect
	wantSeqs(t, s.Pending(0), seqRange(38, 60))

	crash(s) // the watermark must already be on disk
	s = openT(t, dir, opts)
	wantEqual(t, s.Pending(0), want[37:])
	if st := s.Stats(); st.Batches != 23 || st.FirstSeq != 38 || st.LastSeq != 60 {
		t.Fatalf("Stats = %+v", st)
	}
	s.Trim(60)
	if n := len(segFiles(t, dir)); n != 0 {
		// Nothing is active after reopen, so every segment is dead.
		t.Fatalf("%d segments left after trimming everything", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLastSeqSurvivesEverythingTrimmed(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{SegmentBytes: 1024})
	appendT(t, s, 1, 10, 2)
	s.Trim(10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	if n := len(segFiles(t, dir)); n != 0 {
		t.Fatalf("%d segment files left, want 0", n)
	}
	if got := s.LastSeq(); got != 10 {
		t.Fatalf("LastSeq = %d, want 10", got)
	}
	crash(s)

	// Even with the segments deleted behind its back.
	s = openT(t, dir, Options{})
	if got := s.LastSeq(); got != 10 {
		t.Fatalf("LastSeq = %d, want 10", got)
	}
	// An ack above LastSeq (controller knows later batches) raises it.
	s.Trim(25)
	crash(s)
	s = openT(t, dir, Options{})
	defer s.Close()
	if got := s.LastSeq(); got != 25 {
		t.Fatalf("LastSeq = %d, want 25", got)
	}
	if err := s.Append(batch(20, 1)); !errors.Is(err, ErrSeqNotIncreasing) {
		t.Fatalf("Append(20) = %v", err)
	}
	appendT(t, s, 26, 26, 1)
	wantSeqs(t, s.Pending(0), []uint64{26})
}

func TestLastSeqFromSegmentsWhenMetaStale(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 9, 1)
	crash(s)
	// A meta file older than the segments (a version 1 spool wrote it
	// lazily): the segments' highest seq wins.
	if err := writeMeta(dir, meta{lastSeq: 3}, true); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	defer s.Close()
	if s.LastSeq() != 9 {
		t.Fatalf("LastSeq = %d", s.LastSeq())
	}
	if m, _, _ := readMeta(dir); m.lastSeq != 9 {
		t.Fatalf("Open did not persist lastSeq: %d", m.lastSeq)
	}
}

func TestCorruptMeta(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 5, 1)
	s.Trim(2)
	crash(s)
	if err := os.WriteFile(filepath.Join(dir, metaName), []byte("garbage, not a meta file......!!"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	st := s.Stats()
	if st.Corrupt != 1 || st.LastSeq != 5 {
		t.Fatalf("Stats = %+v", st)
	}
	// Watermark lost: acked batches are resent (harmless), none lost.
	wantSeqs(t, s.Pending(0), seqRange(1, 5))
	crash(s)
	s = openT(t, dir, Options{})
	defer s.Close()
	if st := s.Stats(); st.Corrupt != 0 {
		t.Fatalf("meta not rewritten: %+v", st)
	}
}

// TestTornTail cuts the last segment at every byte offset inside its last
// record, as a crash mid-write would.
func TestTornTail(t *testing.T) {
	src := tempdir.New(t)
	s := openT(t, src, Options{SegmentBytes: 1 << 20})
	want := appendT(t, s, 1, 6, 2)
	crash(s)
	segs := segFiles(t, src)
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	recs := records(t, segs[0])
	last := recs[len(recs)-1]
	for cut := last.off; cut < last.off+last.size; cut++ {
		dir := tempdir.New(t)
		copyDir(t, src, dir)
		seg := filepath.Join(dir, filepath.Base(segs[0]))
		if err := os.Truncate(seg, cut); err != nil {
			t.Fatal(err)
		}
		s := openT(t, dir, Options{})
		wantEqual(t, s.Pending(0), want[:5])
		wantCorrupt := uint64(0)
		if cut > last.off {
			wantCorrupt = 1
		}
		// Seq 6 was reserved before its record was written: it is never
		// reused (the torn batch may have reached the controller), and it
		// is a suspect until the controller says whether it has it.
		if st := s.Stats(); st.Corrupt != wantCorrupt || st.LastSeq != 6 || st.Batches != 5 {
			t.Fatalf("cut at %d: Stats = %+v", cut, st)
		}
		if l := s.Loss(); l.Unresolved != 1 || l.Batches() != 0 {
			t.Fatalf("cut at %d: Loss = %+v, want seq 6 unresolved", cut, l)
		}
		nb := batch(7, 1)
		if err := s.Append(nb); err != nil {
			t.Fatal(err)
		}
		crash(s)
		s = openT(t, dir, Options{})
		wantEqual(t, s.Pending(0), append(want[:5:5], nb))
		s.ResolveMissing(5) // the controller never got 6: lost
		if l := s.Loss(); l.Corrupt != 1 || l.Unresolved != 0 {
			t.Fatalf("cut at %d: after Welcome(5): %+v", cut, l)
		}
		s.Close()
		s = openT(t, dir, Options{})
		if l := s.Loss(); l.Corrupt != 1 || l.Unresolved != 0 {
			t.Fatalf("cut at %d: counted again after a restart: %+v", cut, l)
		}
		s.Close()
	}
}

// corruptCase builds a damaged segment from records 1..10.
type corruptCase struct {
	name        string
	damage      func(seg []byte, recs []scannedRecord) []byte
	want        []uint64
	wantCorrupt uint64
}

func TestCorruptSegment(t *testing.T) {
	all := seqRange(1, 10)
	without := func(drop ...uint64) []uint64 {
		var out []uint64
	next:
		for _, s := range all {
			for _, d := range drop {
				if s == d {
					continue next
				}
			}
			out = append(out, s)
		}
		return out
	}
	insert := func(seg []byte, at int64, junk []byte) []byte {
		out := append([]byte{}, seg[:at]...)
		out = append(out, junk...)
		return append(out, seg[at:]...)
	}
	cases := []corruptCase{
		{"payload bit flip", func(seg []byte, r []scannedRecord) []byte {
			seg[r[4].off+recordHeaderSize+5] ^= 0x40
			return seg
		}, without(5), 1},
		{"header length damaged", func(seg []byte, r []scannedRecord) []byte {
			seg[r[2].off+17] ^= 0xff
			return seg
		}, without(3), 1},
		{"zeroed block across two records", func(seg []byte, r []scannedRecord) []byte {
			clear(seg[r[3].off+10 : r[4].off+20])
			return seg
		}, without(4, 5), 1},
		{"garbage inserted between records", func(seg []byte, r []scannedRecord) []byte {
			return insert(seg, r[5].off, bytes.Repeat([]byte("junk"), 100))
		}, all, 1},
		{"garbage full of magics", func(seg []byte, r []scannedRecord) []byte {
			return insert(seg, r[5].off, bytes.Repeat([]byte("MXSRMXS"), 50))
		}, all, 1},
		{"garbage at start", func(seg []byte, r []scannedRecord) []byte {
			return insert(seg, 0, []byte{1, 2, 3})
		}, all, 1},
		{"unknown record version", func(seg []byte, r []scannedRecord) []byte {
			return insert(seg, r[5].off, encodeRecordVersion(9, 999, []byte("from the future")))
		}, all, 1},
		{"duplicate seq", func(seg []byte, r []scannedRecord) []byte {
			dup := append([]byte{}, seg[r[2].off:r[2].off+r[2].size]...)
			return insert(seg, r[5].off, dup)
		}, all, 1},
		{"garbage at end", func(seg []byte, r []scannedRecord) []byte {
			return append(seg, "trailing garbage"...)
		}, all, 1},
		{"two damaged regions", func(seg []byte, r []scannedRecord) []byte {
			seg[r[1].off] = 'X'
			seg[r[7].off+recordHeaderSize] ^= 1
			return seg
		}, without(2, 8), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempdir.New(t)
			s := openT(t, dir, Options{})
			appendT(t, s, 1, 10, 2)
			crash(s)
			seg := segFiles(t, dir)[0]
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, tc.damage(b, records(t, seg)), 0o600); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir, Options{})
			defer s.Close()
			got := s.Pending(0)
			wantSeqs(t, got, tc.want)
			for _, b := range got {
				if !bytesEqualBatch(b, batch(b.GetSeq(), 2)) {
					t.Fatalf("batch %d content changed", b.GetSeq())
				}
			}
			if st := s.Stats(); st.Corrupt != tc.wantCorrupt {
				t.Fatalf("Corrupt = %d, want %d", st.Corrupt, tc.wantCorrupt)
			}
		})
	}
}

func bytesEqualBatch(a, b *mxv1.ResultBatch) bool { return a.String() == b.String() }

// TestCorruptionAfterOpen: a record damaged on disk after Open is skipped
// on replay, counted once, and dropped from the index.
func TestCorruptionAfterOpen(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{SegmentBytes: 1024})
	appendT(t, s, 1, 20, 2)
	seg := segFiles(t, dir)[0]
	r := records(t, seg)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, r[1].off+recordHeaderSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := s.Pending(0)
	if len(got) != 19 || got[1].GetSeq() != 3 {
		t.Fatalf("got %v", seqsOf(got))
	}
	wantSeqs(t, s.Pending(0), seqsOf(got))
	if st := s.Stats(); st.Corrupt != 1 || st.Batches != 19 {
		t.Fatalf("Stats = %+v", st)
	}
	s.Close()
}

func TestFullDropsOldest(t *testing.T) {
	dir := tempdir.New(t)
	// Seqs 10..49 all encode to the same record size.
	recSize := int64(len(encodeRecord(10, 3, mustMarshal(t, batch(10, 3)))))
	for seq := uint64(11); seq < 50; seq++ {
		if n := int64(len(encodeRecord(seq, 3, mustMarshal(t, batch(seq, 3))))); n != recSize {
			t.Fatalf("record %d is %d bytes, not %d", seq, n, recSize)
		}
	}
	opts := Options{MaxBytes: 10 * recSize, Sync: SyncNone}
	s := openT(t, dir, opts)
	appendT(t, s, 10, 19, 3)
	if st := s.Stats(); st.Dropped != 0 || st.Batches != 10 {
		t.Fatalf("before full: %+v", st)
	}
	appendT(t, s, 20, 49, 3) // each Append drops exactly one
	st := s.Stats()
	if st.Dropped != 30 || st.Batches != 10 || st.FirstSeq != 40 || st.Bytes != opts.MaxBytes {
		t.Fatalf("Stats = %+v (record %d bytes)", st, recSize)
	}
	wantSeqs(t, s.Pending(0), seqRange(40, 49))
	// Disk stays bounded: dropped segments are deleted.
	if st.DiskBytes > opts.MaxBytes+2*(opts.MaxBytes/4) {
		t.Fatalf("disk %d bytes for max %d", st.DiskBytes, opts.MaxBytes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, opts)
	defer s.Close()
	wantSeqs(t, s.Pending(0), seqRange(40, 49))
	if s.LastSeq() != 49 {
		t.Fatalf("LastSeq %d", s.LastSeq())
	}
}

func TestEach(t *testing.T) {
	s := openT(t, tempdir.New(t), Options{SegmentBytes: 4096, Sync: SyncNone})
	defer s.Close()
	appendT(t, s, 1, 3*chunkBatches+5, 1)
	var got []uint64
	err := s.Each(10, func(b *mxv1.ResultBatch) error {
		got = append(got, b.GetSeq())
		if b.GetSeq() == 100 {
			s.Trim(150) // callback may call back into the spool
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 11..100, then whatever of the current chunk was read before the
	// trim, then everything above 150 - strictly increasing, none missing
	// above 150.
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	if got[0] != 11 || got[len(got)-1] != 3*chunkBatches+5 || !containsAll(got, seqRange(151, 3*chunkBatches+5)) || !containsAll(got, seqRange(11, 100)) {
		t.Fatalf("Each delivered %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Each(0, func(*mxv1.ResultBatch) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Each error = %v after %d calls", err, n)
	}
}

func containsAll(got, want []uint64) bool {
	m := map[uint64]bool{}
	for _, g := range got {
		m[g] = true
	}
	for _, w := range want {
		if !m[w] {
			return false
		}
	}
	return true
}

func TestConcurrent(t *testing.T) {
	s := openT(t, tempdir.New(t), Options{SegmentBytes: 8192, MaxBytes: 1 << 20, Sync: SyncNone})
	defer s.Close()
	const n = 1500
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // the runner
		defer wg.Done()
		defer close(done)
		for seq := uint64(1); seq <= n; seq++ {
			if err := s.Append(batch(seq, 2)); err != nil {
				t.Errorf("Append(%d): %v", seq, err)
				return
			}
		}
	}()
	go func() { // the stream client: send and ack
		defer wg.Done()
		var sent uint64
		for {
			select {
			case <-done:
				if sent == n {
					return
				}
			default:
			}
			for _, b := range s.Pending(sent) {
				if b.GetSeq() != sent+1 {
					t.Errorf("gap: got %d after %d", b.GetSeq(), sent)
					return
				}
				sent = b.GetSeq()
			}
			if sent%3 == 0 {
				s.Trim(sent)
			}
			if sent == n {
				return
			}
		}
	}()
	go func() { // metrics
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = s.LastSeq()
				_ = s.Stats()
			}
		}
	}()
	wg.Wait()
	s.Trim(n)
	if st := s.Stats(); st.Batches != 0 || st.LastSeq != n || st.Segments > 1 || st.Corrupt != 0 || st.Dropped != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestTrimWithinActiveSegment: no file can be deleted, so only the
// persisted watermark keeps acknowledged batches from being resent.
func TestTrimWithinActiveSegment(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 10, 1)
	s.Trim(4)
	crash(s)
	if n := len(segFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments", n)
	}
	s = openT(t, dir, Options{})
	defer s.Close()
	wantSeqs(t, s.Pending(0), seqRange(5, 10))
}

func TestOpenIgnoresStrays(t *testing.T) {
	dir := tempdir.New(t)
	strays := []string{"notes.txt", "seg-1.log", "seg-000000000000000000xx.log"}
	for _, name := range append(strays, metaTmpName) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("MXSR half a meta"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, segName(7)), 0o700); err != nil { // a directory, not a segment
		t.Fatal(err)
	}
	s := openT(t, dir, Options{})
	appendT(t, s, 1, 3, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	defer s.Close()
	wantSeqs(t, s.Pending(0), seqRange(1, 3))
	if st := s.Stats(); st.Corrupt != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, metaTmpName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale meta.tmp not removed: %v", err)
	}
	for _, name := range strays {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("stray %s touched: %v", name, err)
		}
	}
}
