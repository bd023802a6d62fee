//go:build windows

package tempdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// errInvalidFunction is ERROR_INVALID_FUNCTION, what Wine 8's
// STATUS_NOT_IMPLEMENTED becomes.
const errInvalidFunction = syscall.Errno(1)

// New returns a new directory that is removed when tb ends.
func New(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", pattern(tb.Name()))
	if err != nil {
		tb.Fatalf("tempdir: %v", err)
	}
	tb.Cleanup(func() {
		if err := Remove(dir); err != nil {
			tb.Errorf("tempdir: cleanup: %v", err)
		}
	})
	return dir
}

// Remove removes dir and everything under it: os.RemoveAll, then, if that
// failed with ERROR_INVALID_FUNCTION (Wine 8), file by file, deepest first.
func Remove(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, errInvalidFunction) {
		return err
	}
	var paths []string
	walkErr := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if walkErr != nil && !errors.Is(walkErr, fs.ErrNotExist) {
		return walkErr
	}
	// Children sort after their parent; remove in reverse.
	slices.Reverse(paths)
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// pattern makes a MkdirTemp pattern from a test name, as t.TempDir does.
func pattern(name string) string {
	const max = 64
	var b strings.Builder
	for _, r := range name {
		if len(b.String()) >= max {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	return b.String() + "-*"
}
