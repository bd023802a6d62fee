package runner

import (
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/stream"
)

// mustClient rebuilds the runner's client with short backoffs for tests.
func mustClient(t *testing.T, r *Runner, lo, hi time.Duration) *stream.Client {
	t.Helper()
	c, err := stream.NewClient(stream.Config{
		Controllers: r.cfg.Controllers, Hello: r.cfg.Hello, Outbox: r.outbox,
		MinBackoff: lo, MaxBackoff: hi, Logger: r.cfg.Logger, OnWelcome: r.onWelcome, AckTimeout: r.cfg.AckTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
