package dirlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FileName is the lock file inside the data directory.
const FileName = "controller.lock"

// DefaultTimeout is how long Lock waits for a busy directory by default.
const DefaultTimeout = 5 * time.Second

// ErrInUse: another process holds the directory. The error Lock returns
// wraps it and names the directory and, when known, the holder's pid.
var ErrInUse = errors.New("in use by another controller")

// errWouldBlock is returned by tryLock when the lock is held elsewhere.
var errWouldBlock = errors.New("dirlock: would block")

// pollInterval is how often Lock retries a busy lock.
const pollInterval = 100 * time.Millisecond

// Lock is a held directory lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock of dir, creating dir if needed, waiting up to
// timeout (DefaultTimeout when zero or less) for another holder to let go.
// It returns at once when ctx ends (the caller's signal handling).
func Acquire(ctx context.Context, dir string, timeout time.Duration) (*Lock, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: lock file: %w", dir, err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errWouldBlock) {
			f.Close()
			return nil, fmt.Errorf("data directory %s: lock: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("data directory %s: waiting for the lock: %w", dir, ctx.Err())
		case <-deadline.C:
			pid := holder(path)
			f.Close()
			if pid > 0 {
				return nil, fmt.Errorf("data directory %s is %w (pid %d)", dir, ErrInUse, pid)
			}
			return nil, fmt.Errorf("data directory %s is %w (pid unknown)", dir, ErrInUse)
		case <-tick.C:
		}
	}
	// Ours: record who holds it.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		_ = f.Sync()
	}
	return &Lock{f: f, path: path}, nil
}

// holder reads the pid recorded by the holder (0 if unreadable).
func holder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release lets the directory go. The pid stays in the file (harmless: the
// kernel lock, not the file's content, decides who holds it).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
