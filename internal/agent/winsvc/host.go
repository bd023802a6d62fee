package winsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ErrStopTimeout: the agent loop did not return in time after a stop.
var ErrStopTimeout = errors.New("agent service: the agent did not stop in time")

// RunUntilStopped runs run until it returns or stop is closed; then it
// cancels run's context and waits up to grace for it to return (the SCM
// kills a service that takes much longer). It is the service handler's core,
// independent of the SCM so it is tested everywhere.
func RunUntilStopped(run func(context.Context) error, stop <-chan struct{}, grace time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			return errors.New("agent service: the agent stopped by itself")
		}
		return err
	case <-stop:
	}
	cancel()
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(grace):
		return ErrStopTimeout
	}
}

// Level of a log line, for the Event Log.
type Level int

// Event Log levels.
const (
	LevelInfo Level = iota
	LevelWarning
	LevelError
)

// LevelOf reads slog's level from a text ("level=WARN") or JSON
// ("\"level\":\"ERROR\"") line; anything else is informational.
func LevelOf(line string) Level {
	for _, p := range []string{"level=", `"level":"`} {
		if i := strings.Index(line, p); i >= 0 {
			v := line[i+len(p):]
			switch {
			case strings.HasPrefix(v, "ERROR"):
				return LevelError
			case strings.HasPrefix(v, "WARN"):
				return LevelWarning
			}
			return LevelInfo
		}
	}
	return LevelInfo
}

// EventSink is the Event Log (eventlog.Log satisfies it).
type EventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Event ids: one per level, so admins can filter on them.
const (
	EventInfo    uint32 = 1
	EventWarning uint32 = 2
	EventError   uint32 = 3
)

// LogWriter sends each complete line to the file and to the Event Log at the
// line's level. Safe for concurrent use.
type LogWriter struct {
	mu     sync.Mutex
	file   io.Writer
	events EventSink
	// MinEventLevel keeps chatter out of the Event Log (the file has it all).
	MinEventLevel Level
	buf           []byte
}

// NewLogWriter writes to file (may be nil) and events (may be nil).
func NewLogWriter(file io.Writer, events EventSink, min Level) *LogWriter {
	return &LogWriter{file: file, events: events, MinEventLevel: min}
}

func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.emit(line)
	}
	// An unterminated line longer than 64 KiB is flushed as it is.
	if len(w.buf) > 64<<10 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *LogWriter) emit(line string) {
	if w.file != nil {
		_, _ = io.WriteString(w.file, line+"\n") // a full disk must not stop the agent
	}
	if w.events == nil {
		return
	}
	switch lvl := LevelOf(line); {
	case lvl < w.MinEventLevel:
	case lvl == LevelError:
		_ = w.events.Error(EventError, line)
	case lvl == LevelWarning:
		_ = w.events.Warning(EventWarning, line)
	default:
		_ = w.events.Info(EventInfo, line)
	}
}

// RotatingFile appends to path and, past max bytes, renames it to path.1
// (replacing an older one) and starts afresh: bounded disk use without a
// log rotation service on the server.
type RotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

// OpenRotating opens (creating) path for appending.
func OpenRotating(path string, max int64) (*RotatingFile, error) {
	r := &RotatingFile{path: path, max: max}
	return r, r.open()
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("agent service: log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		r.f.Close()
		_ = os.Remove(r.path + ".1")
		if err := os.Rename(r.path, r.path+".1"); err != nil {
			return 0, err
		}
		if err := r.open(); err != nil {
			r.f = nil
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// Close closes the file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
