//go:build windows

package spool

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mxprobe/mxprobe/internal/sharedfile"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// TestReaderAndTrim: `agent status` inspects the spool while the service
// runs. What Windows (and Wine 8) allow while a reader holds files:
//
//   - a trimmed segment held by a reader that opened it shared for delete
//     (sharedfile.Open, as Inspect does) is deleted all the same (its name
//     goes when the reader closes); with os.Open the delete would fail;
//   - the meta file cannot be replaced while any handle holds it, shared for
//     delete or not (MoveFileEx over an open file: "Access denied"): that
//     Trim logs the failure and keeps everything, and the next Trim after the
//     reader closed persists the watermark and deletes what is dead. Nothing
//     acknowledged is lost and nothing held is dropped in between.
func TestReaderAndTrim(t *testing.T) {
	dir := tempdir.New(t)
	s := openT(t, dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
	defer s.Close()
	appendT(t, s, 1, 40, 5)
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("segments %v %v, want several", segs, err)
	}
	oldest := filepath.Join(dir, segName(segs[0]))
	metaPath := filepath.Join(dir, metaName)

	// A reader holds the oldest segment: Trim deletes it anyway.
	seg, err := sharedfile.Open(oldest)
	if err != nil {
		t.Fatal(err)
	}
	s.Trim(20)
	// Deleted while held, the file is "delete pending": its name goes when
	// the last handle closes (a failed delete would leave it for good, or
	// until the next collect).
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldest); !os.IsNotExist(err) {
		t.Fatalf("trimmed segment %s still there after its reader closed: %v", filepath.Base(oldest), err)
	}
	if m, _, err := readMeta(dir); err != nil || m.floor != 20 {
		t.Fatalf("meta after Trim(20): %+v %v", m, err)
	}

	// A reader holds the meta file: the replace fails, nothing changes.
	mf, err := sharedfile.Open(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := listSegments(dir)
	s.Trim(30)
	m, _, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Trim(30) while a reader held meta: stored floor %d (20: the replace was refused)", m.floor)
	if m.floor == 20 {
		if after, _ := listSegments(dir); len(after) != len(before) {
			t.Errorf("segments deleted although the watermark was not persisted: %v -> %v", before, after)
		}
	}
	wantSeqs(t, s.Pending(0), seqRange(31, 40))
	if err := mf.Close(); err != nil {
		t.Fatal(err)
	}

	// Reader gone: the next Trim persists and collects.
	s.Trim(35)
	if m, _, err := readMeta(dir); err != nil || m.floor != 35 {
		t.Fatalf("meta after the reader closed: %+v %v", m, err)
	}
	in, err := Inspect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if st := in.Stats(); st.FirstSeq != 36 || st.LastSeq != 40 {
		t.Errorf("Inspect after the trims: %+v", st)
	}
}
