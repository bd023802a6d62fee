package spool

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/stream"
)

var _ stream.Outbox = (*Spool)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// batch builds a batch with n results; the content depends on seq so
// round trips are checked byte for byte.
func batch(seq uint64, n int) *mxv1.ResultBatch {
	b := &mxv1.ResultBatch{Seq: seq, SentAt: timestamppb.New(time.Unix(1700000000+int64(seq), 0))}
	for i := range n {
		b.Results = append(b.Results, &mxv1.CheckResult{
			Check:     "smtp_probe",
			Target:    fmt.Sprintf("smtp://mx%d.contoso.com:25", i),
			Status:    mxv1.CheckStatus(1 + i%3),
			StartedAt: timestamppb.New(time.Unix(1700000000, int64(seq))),
			Duration:  durationpb.New(time.Duration(seq) * time.Millisecond),
			Error:     fmt.Sprintf("batch %d result %d", seq, i),
		})
	}
	return b
}

func openT(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func appendT(t testing.TB, s *Spool, from, to uint64, results int) []*mxv1.ResultBatch {
	t.Helper()
	var out []*mxv1.ResultBatch
	for seq := from; seq <= to; seq++ {
		b := batch(seq, results)
		if err := s.Append(b); err != nil {
			t.Fatalf("Append(%d): %v", seq, err)
		}
		out = append(out, b)
	}
	return out
}

// crash abandons s as a killed process would: handles closed, nothing
// synced or persisted.
func crash(s *Spool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeAll()
}

func seqsOf(bs []*mxv1.ResultBatch) []uint64 {
	out := make([]uint64, len(bs))
	for i, b := range bs {
		out[i] = b.GetSeq()
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func wantSeqs(t testing.TB, got []*mxv1.ResultBatch, want []uint64) {
	t.Helper()
	if g := seqsOf(got); !slices.Equal(g, want) {
		t.Fatalf("seqs = %v, want %v", g, want)
	}
}

func wantEqual(t testing.TB, got, want []*mxv1.ResultBatch) {
	t.Helper()
	wantSeqs(t, got, seqsOf(want))
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs after round trip:\n got %v\nwant %v", want[i].GetSeq(), got[i], want[i])
		}
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// records lists the well-formed records of a segment file.
func records(t testing.TB, path string) []scannedRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var out []scannedRecord
	scanSegment(f, fi.Size(), func(r scannedRecord) { out = append(out, r) })
	return out
}

func mustMarshal(t testing.TB, b *mxv1.ResultBatch) []byte {
	t.Helper()
	p, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
