package checks

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// BenchmarkProtocolLogsOnce is what `agent check --protocol-logs` spends on
// a generated 128 MiB send log: parse, window, findings.
func BenchmarkProtocolLogsOnce(b *testing.B) {
	dir := tempdir.New(b)
	path := filepath.Join(dir, "SmtpSend", "SEND20190502-1.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := loggen.Write(f, loggen.Options{Bytes: 128 << 20, Interleave: 50, Seed: 42, PartnerFails: true}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		c := &ProtocolLogs{Dirs: []string{dir}}
		if _, err := c.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
