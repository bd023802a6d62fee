package smtpprobe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// Many probes at once against one server all succeed and all say QUIT.
func TestProbeConcurrent(t *testing.T) {
	t.Parallel()
	const n = 256
	s := startLab(t, lab.Good, lab.ServerOptions{})
	opts := labOptions(s)
	opts.Timeout = 50 * time.Second // -race on a small machine
	opts.Limits.IdleTimeout = 50 * time.Second
	results := make([]smtpprobe.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = smtpprobe.Probe(context.Background(), s.Addr(), opts)
		})
	}
	wg.Wait()
	for i, r := range results {
		if !r.OK() {
			t.Fatalf("probe %d: phase %s err %v", i, r.Phase, r.Err)
		}
	}
	if st := s.Stats(); st.Connections != n || st.Handshakes != n || st.Quits != n || st.MailCommands != 0 {
		t.Errorf("server saw %+v", st)
	}
}
