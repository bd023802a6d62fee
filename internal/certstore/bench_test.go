package certstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// BenchmarkScan10k scans a pemdir of 10,000 ECDSA certificates (one CA)
// with private keys for half of them in separate files (15,000 files).
func BenchmarkScan10k(b *testing.B) {
	dir := tempdir.New(b)
	ca := certstoretest.NewCA(b)
	for i := 0; i < 10_000; i++ {
		k := certstoretest.NewECKey(b)
		c := ca.Issue(b, fmt.Sprintf("host%05d.contoso.com", i), &k.PublicKey)
		certstoretest.WriteFile(b, dir, fmt.Sprintf("certs/%05d.crt", i), certstoretest.CertPEM(c))
		if i%2 == 0 {
			certstoretest.WriteFile(b, dir, fmt.Sprintf("keys/k%05d.key", i), certstoretest.PKCS8PEM(b, k))
		}
	}
	s, err := OpenDir(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUTime()
	for i := 0; i < b.N; i++ {
		inv, err := s.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Certificates) != 10_000 || len(inv.Problems) != 0 {
			b.Fatalf("certs=%d problems=%d", len(inv.Certificates), len(inv.Problems))
		}
		usable := 0
		for _, c := range inv.Certificates {
			if c.Key == KeyUsable {
				usable++
			}
		}
		if usable != 5_000 {
			b.Fatalf("usable=%d", usable)
		}
	}
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		// CPU time is a load-independent cost measure (wall time on a busy
		// build machine is not).
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
