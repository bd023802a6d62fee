package spool

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// validSegment encodes batches from..to as one segment.
func validSegment(tb testing.TB, from, to uint64) []byte {
	var seg []byte
	for seq := from; seq <= to; seq++ {
		p, err := proto.Marshal(batch(seq, int(seq%3)))
		if err != nil {
			tb.Fatal(err)
		}
		seg = append(seg, encodeRecord(seq, int(seq%3), p)...)
	}
	return seg
}

// FuzzOpenSegment feeds arbitrary bytes to the segment reader and the
// index builder Open uses. The reader must not panic or over-allocate, must
// account for every byte (records and skipped regions tile the file), and
// only verified records in strictly increasing seq order may be indexed.
// The fuzz body stays in memory: file I/O makes coverage nondeterministic
// and stalls the fuzzer. TestOpenFuzzCorpus runs every corpus entry
// through the real Open/Pending/Append on disk.
func FuzzOpenSegment(f *testing.F) {
	good := validSegment(f, 1, 4)
	f.Add([]byte{})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(append(good[:40:40], "MXSR garbage"...), good[40:]...))
	f.Add(encodeRecordVersion(7, 1, []byte("future")))
	// A header claiming a 4 GiB payload, with a valid header CRC.
	huge := encodeRecord(1, 0, nil)
	binary.LittleEndian.PutUint32(huge[16:20], 0xffffffff)
	binary.LittleEndian.PutUint32(huge[24:28], crc32c(huge[:24]))
	f.Add(append(huge, good...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		size := int64(len(data))

		type span struct {
			off, end int64
			rec      bool
			seq      uint64
		}
		var spans []span
		res := scanSegment(r, size, func(rec scannedRecord) {
			spans = append(spans, span{rec.off, rec.off + rec.size, true, rec.seq})
		})
		if res.records != len(spans) {
			t.Fatalf("records %d, callbacks %d", res.records, len(spans))
		}
		for _, c := range res.corrupt {
			spans = append(spans, span{off: c.off, end: c.end})
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
		pos := int64(0)
		for _, sp := range spans {
			if sp.off != pos || sp.end <= sp.off || sp.end > size {
				t.Fatalf("span [%d,%d) does not continue at %d (size %d)", sp.off, sp.end, pos, size)
			}
			if sp.rec {
				h, p, err := readRecord(r, sp.off, sp.end-sp.off)
				if err != nil || h.seq != sp.seq {
					t.Fatalf("record at %d does not read back: %v", sp.off, err)
				}
				if !bytes.Equal(encodeRecord(h.seq, int(h.results), p), data[sp.off:sp.end]) {
					t.Fatalf("record at %d does not re-encode identically", sp.off)
				}
			}
			pos = sp.end
		}
		if pos != size {
			t.Fatalf("spans end at %d, size %d", pos, size)
		}

		// Index it as Open does and read every indexed record back.
		s := &Spool{log: quietLogger()}
		sg := &segment{id: 1, path: segName(1), size: size}
		s.scanInto(sg, r)
		if s.ix.count != len(sg.entries) || uint64(len(res.corrupt)) > s.corrupt {
			t.Fatalf("index count %d, entries %d, corrupt %d < %d", s.ix.count, len(sg.entries), s.corrupt, len(res.corrupt))
		}
		for i, e := range sg.entries {
			if e.seq == 0 || (i > 0 && e.seq <= sg.entries[i-1].seq) || e.seq > s.last {
				t.Fatalf("index not strictly increasing in (0, %d]: %d after entry %d", s.last, e.seq, i)
			}
			if b, err := decodeAt(r, e); err == nil && b.GetSeq() != e.seq {
				t.Fatalf("decoded seq %d for entry %d", b.GetSeq(), e.seq)
			}
		}
	})
}

// TestOpenFuzzCorpus opens every FuzzOpenSegment corpus entry as an on-disk
// segment and uses the spool on top of it.
func TestOpenFuzzCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpenSegment", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data := readCorpusBytes(t, file)
			dir := tempdir.New(t)
			if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openT(t, dir, Options{Sync: SyncNone})
			got := s.Pending(0)
			for i, b := range got {
				if i > 0 && b.GetSeq() <= got[i-1].GetSeq() || b.GetSeq() > s.LastSeq() {
					t.Fatalf("bad replay order: %v (LastSeq %d)", seqsOf(got), s.LastSeq())
				}
			}
			if st := s.Stats(); st.Batches != len(got) {
				t.Fatalf("Stats %+v after %d pending", st, len(got))
			}
			next := s.LastSeq() + 1
			if err := s.Append(batch(next, 1)); err != nil {
				t.Fatalf("Append: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir, Options{Sync: SyncNone})
			defer s.Close()
			again := s.Pending(0)
			wantSeqs(t, again, append(seqsOf(got), next))
		})
	}
}

// readCorpusBytes decodes a "go test fuzz v1" file holding one []byte.
func readCorpusBytes(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := strings.Cut(string(b), "\n")
	body = strings.TrimSpace(body)
	if !ok || header != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		t.Fatalf("%s: not a go test fuzz v1 []byte file", file)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(s)
}
