package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqFile persists the last batch sequence number handed out, so a restarted
// agent never reuses one.
type seqFile struct{ path string }

func (s seqFile) load() (uint64, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("runner: read %s: %w", s.path, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// A corrupt file must not stop the agent: the controller's Welcome
		// carries the last committed sequence, which the runner also honours.
		return 0, nil
	}
	return v, nil
}

func (s seqFile) store(v uint64) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("runner: state dir: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(v, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("runner: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("runner: rename %s: %w", tmp, err)
	}
	return nil
}
