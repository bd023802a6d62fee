package protolog

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkParse measures end-to-end throughput (split, rows, sessions,
// certificates, outcomes) on a realistic generated send log.
func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		name string
		dir  Direction
		file string
	}{{"send", DirectionSend, "SEND20190502-1.log"}, {"receive", DirectionReceive, "RECV20190502-1.log"}} {
		b.Run(tc.name, func(b *testing.B) {
			data := genLog(genOptions{Direction: tc.dir, Sessions: 20000, Interleave: 50, Seed: 42})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				p := Parser{OnSession: func(Session) {}}
				if _, err := p.Parse(ctx, bytes.NewReader(data), tc.file); err != nil {
					b.Fatal(err)
				}
			}
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
