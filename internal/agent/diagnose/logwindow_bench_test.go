package diagnose

import (
	"bytes"
	"context"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
)

// BenchmarkLogWindowAdd measures the window alone on the CheckView
// sessions of 64 MiB of the send log mxbench generates (what agent check
// feeds it), parsed once outside the loop.
func BenchmarkLogWindowAdd(b *testing.B) {
	data := loggen.Generate(loggen.Options{Bytes: 64 << 20, Interleave: 50, Seed: 42, PartnerFails: true})
	var ss []protolog.Session
	p := protolog.Parser{OnSession: func(s protolog.Session) { ss = append(ss, s) }, CheckView: true}
	if _, err := p.Parse(context.Background(), bytes.NewReader(data), "SEND20190502-1.log"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		w := NewLogWindow(0, 0)
		for i := range ss {
			w.Add(ss[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ss)), "ns/session")
}
