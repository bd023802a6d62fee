package protolog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// FuzzTailerState loads an arbitrary state file and tails a real log from
// it: a corrupt state is ErrBadState (never a panic, an out-of-range
// index or a negative offset taken for real), and whatever state the
// Tailer accepted it saves in a form it accepts again.
func FuzzTailerState(f *testing.F) {
	logData, err := os.ReadFile(filepath.Join("testdata", "SEND20190502-1.log"))
	if err != nil {
		f.Fatal(err)
	}
	root := tempdir.New(f)
	dir := filepath.Join(root, "SmtpSend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	logPath := filepath.Join(dir, "SEND20190502-1.log")
	clock := func() time.Time { return time.Date(2019, 5, 2, 7, 0, 0, 0, time.UTC) }
	// Seeds: the states a real Tailer saved half-way through the log (open
	// sessions) and at its end.
	for _, n := range []int{len(logData) / 3, len(logData) / 2, len(logData)} {
		if err := os.WriteFile(logPath, logData[:n], 0o644); err != nil {
			f.Fatal(err)
		}
		state := filepath.Join(root, "seed.json")
		_ = os.Remove(state)
		tl, err := NewTailer(TailerConfig{Dirs: []string{dir}, StatePath: state, Now: clock, IdleTimeout: time.Hour})
		if err != nil {
			f.Fatal(err)
		}
		if _, err := tl.Poll(context.Background()); err != nil {
			f.Fatal(err)
		}
		if err := tl.SaveState(); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(state)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if err := os.WriteFile(logPath, logData, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"version":1,"files":[{"path":"x","offset":-1}]}`))
	f.Add([]byte(`{"version":1,"nextOrd":-9,"open":[{"s":{"id":"08D6CE","direction":1,"certificates":[]},"curCert":-7,"ord":9223372036854775807}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		work := tempdir.New(t)
		state := filepath.Join(work, "state.json")
		if err := os.WriteFile(state, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := TailerConfig{Dirs: []string{dir}, StatePath: state, Now: clock, IdleTimeout: time.Hour, MaxOpenSessions: 64}
		tl, err := NewTailer(cfg)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("state refused without ErrBadState: %v", err)
			}
			return
		}
		// Poll without saving (one fsync per input is enough), then save.
		tl.cfg.StatePath = ""
		if _, err := tl.Poll(context.Background()); err != nil {
			t.Fatalf("poll after loading the state: %v", err)
		}
		tl.cfg.StatePath = state
		if err := tl.SaveState(); err != nil {
			t.Fatal(err)
		}
		if _, err := NewTailer(cfg); err != nil {
			b, _ := os.ReadFile(state)
			t.Fatalf("the state the Tailer saved does not load: %v\n%s", err, b)
		}
	})
}
