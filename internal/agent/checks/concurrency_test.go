package checks

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// peakHeap samples HeapInuse while fn runs and returns the maximum.
func peakHeap(fn func()) uint64 {
	var peak uint64
	var ms runtime.MemStats
	runtime.GC()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak
}

// fiveHundredProbes builds n STARTTLS probes (each also trying TLS 1.0-1.3)
// against one lab server.
func fiveHundredProbes(tb testing.TB, ca *lab.CA, n int) []Check {
	tb.Helper()
	s := startLab(tb, lab.Good, ca)
	b, err := NewBuilder(Spec{CAFile: writeCAFile(tb, ca), ExpectName: "localhost", ProbeTimeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	cs := make([]Check, n)
	for i := range cs {
		if cs[i], err = b.Probe("smtp://"+s.Addr(), 0); err != nil {
			tb.Fatal(err)
		}
		// 500 handshakes (x5 with version probing) on a 2-core machine that
		// runs other test packages at the same time: a single read may wait
		// longer than the default 5 s idle limit without anything being wrong.
		cs[i].(*SMTPProbe).Opts.Limits.IdleTimeout = 30 * time.Second
	}
	return cs
}

// 500 concurrent STARTTLS probes against one lab server stay within a
// memory bound whatever their outcome, and each one reports: a completed
// handshake, or a failure that says what happened (on a loaded machine some
// may time out; that is reported, not lost). BenchmarkFiveHundredProbes has
// the figures.
func TestFiveHundredConcurrentProbesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 500 probes")
	}
	const n, limit = 500, 512 << 20
	cs := fiveHundredProbes(t, newCA(t), n)
	var res []*mxv1.CheckResult
	peak := peakHeap(func() { res = RunAll(context.Background(), cs, n) })
	if len(res) != n {
		t.Fatalf("%d results for %d probes", len(res), n)
	}
	outcomes := map[string]int{}
	for i, r := range res {
		switch {
		case r == nil || r.GetTarget() != cs[i].Target():
			t.Fatalf("probe %d: result %v for target %s", i, r, cs[i].Target())
		case len(r.GetFindings()) > 0 && r.GetStatus() != mxv1.CheckStatus_CHECK_STATUS_ERROR:
			// A failure or a warning (a handshake timeout is one) says what
			// the probe observed.
			outcomes[r.GetFindings()[0].GetCode()]++
		case r.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_OK:
			if r.GetTls() == nil {
				t.Errorf("probe %d: OK without a TLS session or a finding: %v", i, r)
			}
			outcomes["ok"]++
		case r.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_ERROR && r.GetError() != "" && !strings.Contains(r.GetError(), "panic"):
			outcomes["error"]++
		default:
			t.Errorf("probe %d: outcome not reported: %v", i, r)
		}
	}
	t.Logf("%d concurrent probes: %v; peak heap in use %.1f MiB", n, outcomes, float64(peak)/(1<<20))
	if peak > limit {
		t.Errorf("peak heap %d MiB over %d MiB", peak>>20, limit>>20)
	}
}

// BenchmarkFiveHundredProbes: time and peak heap of 500 concurrent probes.
//
//	go test -run '^$' -bench FiveHundredProbes -benchtime 3x ./internal/agent/checks
func BenchmarkFiveHundredProbes(b *testing.B) {
	const n = 500
	ca, err := lab.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	cs := fiveHundredProbes(b, ca, n)
	var peak uint64
	ok := 0
	for b.Loop() {
		var res []*mxv1.CheckResult
		peak = max(peak, peakHeap(func() { res = RunAll(context.Background(), cs, n) }))
		for _, r := range res {
			if r.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_OK {
				ok++
			}
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(ok)/float64(b.N*n), "ok-fraction")
}

func BenchmarkProbe(b *testing.B) {
	ca, _ := lab.NewCA("bench CA")
	s, err := lab.Start(context.Background(), lab.Good, lab.ServerOptions{CA: ca, Hostname: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bl, _ := NewBuilder(Spec{ExpectName: "localhost", ProbeTimeout: 10 * time.Second})
	c, _ := bl.Probe("smtp://"+s.Addr(), 0)
	for b.Loop() {
		_, _ = c.Run(context.Background())
	}
}
