package protolog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxprobe/mxprobe/internal/tempdir"

	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
)

// BenchmarkParse measures end-to-end throughput (split, rows, sessions,
// certificates, outcomes) on a realistic generated log held in memory.
func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		name string
		dir  Direction
		file string
	}{{"send", DirectionSend, "SEND20190502-1.log"}, {"receive", DirectionReceive, "RECV20190502-1.log"}} {
		for _, workers := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/workers=%d", tc.name, workers), func(b *testing.B) {
				data := genLog(genOptions{Direction: tc.dir, Sessions: 20000, Interleave: 50, Seed: 42})
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				ctx := context.Background()
				c0, n := cpuNow(), 0
				for b.Loop() {
					p := Parser{OnSession: func(Session) {}, Workers: workers}
					if _, err := p.Parse(ctx, bytes.NewReader(data), tc.file); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(len(data))*float64(n)/1e6/(float64(cpuNow()-c0)/1e9), "MB/cpu-s")
			})
		}
	}
}

// BenchmarkParseFiles reads a 256 MB send log from disk (page cache after
// the first run), one worker and GOMAXPROCS workers.
func BenchmarkParseFiles(b *testing.B) {
	path := filepath.Join(tempdir.New(b), "SEND20190502-1.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := loggen.Write(f, loggen.Options{Bytes: 256 << 20, Interleave: 50, Seed: 42, PartnerFails: true}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	for _, workers := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(fi.Size())
			c0, n := cpuNow(), 0
			for b.Loop() {
				p := Parser{OnSession: func(Session) {}, Workers: workers}
				if _, err := p.ParseFiles(context.Background(), []string{path}); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(fi.Size())*float64(n)/1e6/(float64(cpuNow()-c0)/1e9), "MB/cpu-s")
		})
	}
}

func BenchmarkSplitCSV(b *testing.B) {
	line := []byte(`2019-05-02T06:32:10.118Z,Outbound to Office 365,08D6CE8F0A2C3B11,16,10.0.0.5:28311,104.47.1.33:25,*,"CN=mail.contoso.com, O=Contoso, C=NL",Certificate subject`)
	out := make([][]byte, maxColumns)
	scratch := make([]byte, 0, len(line))
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		splitCSV(line, out, scratch)
	}
}

// BenchmarkCheck measures what agent check asks of the parser (CheckView
// sessions, no consumer) on 64 MiB of the log mxbench generates, held in
// memory, one worker and GOMAXPROCS workers.
func BenchmarkCheck(b *testing.B) {
	data := loggen.Generate(loggen.Options{Bytes: 64 << 20, Interleave: 50, Seed: 42, PartnerFails: true})
	for _, workers := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			ctx := context.Background()
			c0, n := cpuNow(), 0
			for b.Loop() {
				p := Parser{OnSession: func(Session) {}, Workers: workers, CheckView: true}
				if _, err := p.Parse(ctx, bytes.NewReader(data), "SEND20190502-1.log"); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(len(data))*float64(n)/1e6/(float64(cpuNow()-c0)/1e9), "MB/cpu-s")
		})
	}
}
