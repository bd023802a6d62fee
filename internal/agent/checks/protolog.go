package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/certdiag"
)

// State files of the tailing protocol-log check, under the agent's state_dir.
const (
	TailStateFile   = "protolog-tail.json"
	WindowStateFile = "protolog-window.json"
)

// ProtocolLogs diagnoses Exchange SMTP protocol logs. Once (agent check)
// parses every log under Dirs on each run; Tail (agent run) follows them
// with a protolog.Tailer whose offsets persist in StateDir and keeps a
// bounded window of recent trouble (also persisted), so a failure stays a
// finding across rounds until sessions on that path succeed again or it is
// older than MaxAge.
type ProtocolLogs struct {
	Dirs []string
	// Source, when set, gives each connector's intended certificate
	// (LOG_UNEXPECTED_CERT_SENT).
	Source *ExchangeSource
	Diag   diagnose.Options
	Tail   bool
	// StateDir holds the tailer's and the window's state (Tail only).
	StateDir string
	// MaxAge bounds how long a failure not seen again is kept (Tail only;
	// 0: until a success clears it).
	MaxAge time.Duration
	// MaxGroups bounds the window (0: diagnose.DefaultLogWindowGroups).
	MaxGroups int
	Logger    *slog.Logger

	mu     sync.Mutex
	tailer *protolog.Tailer
	window *diagnose.LogWindow
	read   protolog.Stats // what the tailer read since this check started
}

func (c *ProtocolLogs) Name() string   { return "protocol_log" }
func (c *ProtocolLogs) Target() string { return strings.Join(c.Dirs, ",") }

func (c *ProtocolLogs) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *ProtocolLogs) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var w *diagnose.LogWindow
	var st protolog.Stats
	var err error
	if c.Tail {
		w, st, err = c.poll(ctx)
	} else {
		w, st, err = c.parseOnce(ctx)
	}
	if err != nil {
		return nil, err
	}
	fs := diagnose.ProtocolLog(w, c.expectations(ctx), c.Diag)
	if f := diagnose.LogsUnparseable(c.Target(), st, c.Diag); f != nil {
		fs = append(fs, f)
	}
	return fs, nil
}

func (c *ProtocolLogs) expectations(ctx context.Context) certdiag.ExpectedSent {
	if c.Source == nil {
		return nil
	}
	inv, certs, err := c.Source.Load(ctx)
	if err != nil {
		c.log().Warn("protocol log check without connector expectations", "err", err)
		return nil
	}
	exp, err := certdiag.Expectations(inv, certs, c.Diag)
	if err != nil {
		c.log().Warn("protocol log check without connector expectations", "err", err)
		return nil
	}
	return exp
}

func (c *ProtocolLogs) parseOnce(ctx context.Context) (*diagnose.LogWindow, protolog.Stats, error) {
	files, err := protolog.FindLogFiles(ctx, c.Dirs, 0)
	if err != nil {
		return nil, protolog.Stats{}, fmt.Errorf("protocol logs: %w", err)
	}
	if len(files) == 0 {
		return nil, protolog.Stats{}, fmt.Errorf("%w under %s", ErrNoLogFiles, c.Target())
	}
	w := diagnose.NewLogWindow(c.MaxGroups, 0)
	p := protolog.Parser{OnSession: w.Add, CheckView: true}
	sum, err := p.ParseFiles(ctx, files)
	if err != nil {
		return nil, protolog.Stats{}, fmt.Errorf("protocol logs: %w", err)
	}
	if sum.Stats.BadRows > 0 || sum.Stats.LongLines > 0 {
		c.log().Warn("protocol logs: skipped unparseable lines", "bad_rows", sum.Stats.BadRows, "long_lines", sum.Stats.LongLines)
	}
	return w, sum.Stats, nil
}

// poll returns the window and what the tailer read since the check started
// (so a log of only unparseable rows stays a finding while nothing parses).
func (c *ProtocolLogs) poll(ctx context.Context) (*diagnose.LogWindow, protolog.Stats, error) {
	if c.tailer == nil {
		if c.StateDir != "" {
			if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
				return nil, protolog.Stats{}, fmt.Errorf("protocol logs: state dir: %w", err)
			}
		}
		t, err := protolog.NewTailer(protolog.TailerConfig{Dirs: c.Dirs, StatePath: c.statePath(TailStateFile), IgnoreBadState: true})
		if err != nil {
			return nil, protolog.Stats{}, fmt.Errorf("protocol logs: %w", err)
		}
		c.tailer = t
		c.window = diagnose.NewLogWindow(c.MaxGroups, c.MaxAge)
		if p := c.statePath(WindowStateFile); p != "" {
			if f, err := os.Open(p); err == nil {
				if err := c.window.Load(f); err != nil {
					c.log().Warn("protocol logs: starting with an empty failure window", "err", err)
				}
				_ = f.Close()
			}
		}
	}
	res, err := c.tailer.Poll(ctx)
	if err != nil {
		return nil, protolog.Stats{}, fmt.Errorf("protocol logs: %w", err)
	}
	c.read.Add(res.Stats)
	for _, s := range res.Sessions {
		c.window.Add(s)
	}
	for _, ev := range res.Events {
		if ev.Kind == protolog.FileError {
			c.log().Warn("protocol log unreadable", "path", ev.Path, "err", ev.Err)
		}
	}
	if err := c.saveWindow(); err != nil {
		c.log().Warn("protocol logs: cannot persist the failure window", "err", err)
	}
	return c.window, c.read, nil
}

func (c *ProtocolLogs) statePath(name string) string {
	if c.StateDir == "" {
		return ""
	}
	return filepath.Join(c.StateDir, name)
}

// saveWindow writes the window atomically (temp file, fsync, rename).
func (c *ProtocolLogs) saveWindow() (err error) {
	p := c.statePath(WindowStateFile)
	if p == "" {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".window-*")
	if err != nil {
		return fmt.Errorf("protocol logs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := c.window.Save(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("protocol logs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("protocol logs: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("protocol logs: %w", errors.Join(err, os.Remove(f.Name())))
	}
	return nil
}
