package spool

import (
	"fmt"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// benchResults is a typical batch size: one round of a dozen checks.
const benchResults = 12

func BenchmarkAppend(b *testing.B) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncNone} {
		b.Run("fsync="+map[SyncPolicy]string{SyncAlways: "on", SyncNone: "off"}[pol], func(b *testing.B) {
			s := openT(b, tempdir.New(b), Options{Sync: pol})
			defer s.Close()
			batches := make([]*mxv1.ResultBatch, 256)
			for i := range batches {
				batches[i] = batch(uint64(i+1), benchResults)
			}
			b.SetBytes(int64(len(mustMarshal(b, batches[0]))))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				tpl := batches[i%len(batches)]
				tpl.Seq = uint64(i + 1)
				if err := s.Append(tpl); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 1023 {
					s.Trim(uint64(i + 1)) // keep the spool small, as acks would
				}
			}
		})
	}
}

// BenchmarkReplay measures a restart with a backlog: Open (scan and index
// every segment) followed by reading every batch back with Each.
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("batches=%d", n), func(b *testing.B) {
			dir := tempdir.New(b)
			s := openT(b, dir, Options{Sync: SyncNone})
			appendT(b, s, 1, uint64(n), benchResults)
			st := s.Stats()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Bytes)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s := openT(b, dir, Options{Sync: SyncNone})
				got := 0
				if err := s.Each(0, func(*mxv1.ResultBatch) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("replayed %d of %d", got, n)
				}
				s.Close()
			}
		})
	}
}
