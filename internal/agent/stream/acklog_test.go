package stream

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// lockedBuffer is a log sink the client's goroutines may write while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every acknowledgement is logged at debug level with its sequence and the
// controller that gave it, so an operator can see what was acknowledged
// without reading the spool; at info level nothing is logged per batch.
func TestAcknowledgementsLoggedAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			ctl := serve(t, &testController{mode: acking, state: &committed{}})
			out := NewMemOutbox(0, 0)
			for seq := uint64(1); seq <= 3; seq++ {
				if err := out.Append(&mxv1.ResultBatch{Seq: seq}); err != nil {
					t.Fatal(err)
				}
			}
			var logs lockedBuffer
			c, err := NewClient(Config{Controllers: []string{ctl.addr}, Hello: &mxv1.Hello{AgentId: "edge01"}, Outbox: out,
				MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, AckTimeout: time.Minute,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(60 * time.Second) // a hang guard, not a timing assertion
			for c.Acked() < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("acked %d of 3", c.Acked())
				}
				time.Sleep(10 * time.Millisecond)
			}
			got := logs.String()
			if level == slog.LevelInfo {
				if strings.Contains(got, "batch acknowledged") {
					t.Errorf("acknowledgements logged at info level:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, `msg="batch acknowledged" seq=3 controller=`+ctl.addr) {
				t.Errorf("no debug line for the acknowledgement of seq 3 by %s:\n%s", ctl.addr, got)
			}
		})
	}
}
