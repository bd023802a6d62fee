package checks

import (
	"context"
	"runtime"
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

// 500 concurrent STARTTLS probes (each also trying TLS 1.0-1.3) against one
// lab server complete with bounded memory.
func TestFiveHundredConcurrentProbesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 500 probes")
	}
	const n, limit = 500, 512 << 20
	ca := newCA(t)
	s := startLab(t, lab.Good, ca)
	b, err := NewBuilder(Spec{CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]Check, n)
	for i := range cs {
		if cs[i], err = b.Probe("smtp://"+s.Addr(), 0); err != nil {
			t.Fatal(err)
		}
		// 500 handshakes (x5 with version probing) on a 2-core machine that
		// runs other test packages at the same time: a single read may wait
		// longer than the default 5 s idle limit without anything being wrong.
		cs[i].(*SMTPProbe).Opts.Limits.IdleTimeout = 30 * time.Second
	}
	var res []*mxv1.CheckResult
	start := time.Now()
	peak := peakHeap(func() { res = RunAll(context.Background(), cs, n) })
	t.Logf("%d concurrent probes in %s, peak heap in use %.1f MiB", n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
	bad := 0
	var first *mxv1.CheckResult
	for _, r := range res {
		if r.Status != mxv1.CheckStatus_CHECK_STATUS_OK {
			bad++
			if first == nil {
				first = r
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d probes not OK (first: %v)", bad, n, first)
	}
	if peak > limit {
		t.Errorf("peak heap %d MiB over %d MiB", peak>>20, limit>>20)
	}
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
