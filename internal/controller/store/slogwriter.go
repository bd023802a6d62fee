package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// slogWriter forwards hclog's text lines (raft's logger) into slog, keeping
// raft's level as a field.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := strings.TrimSpace(string(line))
		if msg == "" {
			continue
		}
		level := slog.LevelInfo
		switch {
		case strings.HasPrefix(msg, "[ERROR]"):
			level = slog.LevelError
		case strings.HasPrefix(msg, "[WARN]"):
			level = slog.LevelWarn
		case strings.HasPrefix(msg, "[DEBUG]"), strings.HasPrefix(msg, "[TRACE]"):
			level = slog.LevelDebug
		}
		w.log.Log(context.Background(), level, msg)
	}
	return len(p), nil
}
