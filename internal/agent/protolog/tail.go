package protolog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultIdleTimeout is how long a session may see no rows before the
// Tailer flushes it as incomplete.
const DefaultIdleTimeout = 10 * time.Minute

// identityPrefix is how many leading bytes identify a file across
// restarts (Exchange's header includes a millisecond #Date, so the first
// lines differ between files).
const identityPrefix = 256

// TailerConfig configures a Tailer.
type TailerConfig struct {
	Dirs            []string      // roots searched for protocol logs (--protocol-logs, repeatable)
	MaxDepth        int           // recursion depth below each root; 0: DefaultMaxDepth
	StatePath       string        // JSON state file; "" disables persistence
	IdleTimeout     time.Duration // 0: DefaultIdleTimeout
	MaxOpenSessions int           // 0: DefaultMaxOpenSessions
	MaxLineBytes    int           // 0: DefaultMaxLineBytes
	// IgnoreBadState makes NewTailer start fresh instead of failing when
	// the state file is corrupt or from an incompatible version.
	IgnoreBadState bool
	Now            func() time.Time // wall clock; nil: time.Now
}

// FileEventKind classifies what the Tailer noticed about a file.
type FileEventKind string

// File event kinds.
const (
	FileNew       FileEventKind = "new"       // first seen (rotation creates these)
	FileTruncated FileEventKind = "truncated" // size fell below the offset: restarted from 0
	FileReplaced  FileEventKind = "replaced"  // identity changed: restarted from 0
	FileRemoved   FileEventKind = "removed"   // no longer present
	FileError     FileEventKind = "error"     // could not be read this poll
)

// FileEvent is one notable change seen during a Poll.
type FileEvent struct {
	Path string        `json:"path"`
	Kind FileEventKind `json:"kind"`
	Err  string        `json:"err,omitempty"`
}

// PollResult is what one Poll produced.
type PollResult struct {
	Sessions []Session // completed (Closed) or flushed (idle, cap) this poll
	Events   []FileEvent
	Stats    Stats // counters for this poll only
}

// Tailer incrementally follows protocol logs. It is not safe for
// concurrent use; call Poll from one goroutine.
type Tailer struct {
	cfg        TailerConfig
	files      map[string]*tailFile
	stats      Stats
	eng        engine
	out        []Session
	bytesRead  int64
	probeBytes int64
	buf        []byte
}

type tailFile struct {
	path    string
	fs      *fileState
	readOff int64 // bytes fed to the line feeder
	feeder  lineFeeder
	idLen   int
	idHash  string
	info    os.FileInfo // nil after a restart until the first stat
}

// consumed is the offset of the first byte not yet turned into a line.
func (f *tailFile) consumed() int64 { return f.readOff - int64(len(f.feeder.pending)) }

func (f *tailFile) reset(maxLine int) {
	f.fs = newFileState(f.path)
	f.readOff = 0
	f.feeder = lineFeeder{max: maxLine}
	f.idLen, f.idHash = 0, ""
}

// NewTailer creates a Tailer and loads its state file if one exists.
func NewTailer(cfg TailerConfig) (*Tailer, error) {
	if len(cfg.Dirs) == 0 {
		return nil, ErrNoDirs
	}
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxOpenSessions = max(cmp.Or(cfg.MaxOpenSessions, DefaultMaxOpenSessions), 1)
	cfg.MaxLineBytes = cmp.Or(cfg.MaxLineBytes, DefaultMaxLineBytes)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tailer{cfg: cfg, files: map[string]*tailFile{}, buf: make([]byte, readChunk)}
	t.eng.stats = &t.stats
	t.eng.tr = newTracker(cfg.MaxOpenSessions, &t.stats, func(st *sessState) { t.out = append(t.out, st.S) })
	t.eng.tr.now = cfg.Now
	if cfg.StatePath != "" {
		if err := t.loadState(); err != nil {
			if !cfg.IgnoreBadState || !errors.Is(err, ErrBadState) {
				return nil, err
			}
			t.files = map[string]*tailFile{}
			t.eng.tr = newTracker(cfg.MaxOpenSessions, &t.stats, func(st *sessState) { t.out = append(t.out, st.S) })
			t.eng.tr.now = cfg.Now
		}
	}
	return t, nil
}

// BytesRead is the total number of log content bytes read since the
// Tailer was created (identity probes excluded; see ProbeBytes).
func (t *Tailer) BytesRead() int64 { return t.bytesRead }

// ProbeBytes is the number of bytes re-read from file starts to verify
// file identity.
func (t *Tailer) ProbeBytes() int64 { return t.probeBytes }

// Stats returns cumulative counters.
func (t *Tailer) Stats() Stats { return t.stats }

// OpenSessions returns a snapshot of sessions still being assembled.
func (t *Tailer) OpenSessions() []Session {
	sts := t.eng.tr.openStates()
	out := make([]Session, len(sts))
	for i, st := range sts {
		out[i] = st.S
	}
	return out
}

// Flush emits every open session (Closed=false) and persists state.
func (t *Tailer) Flush() ([]Session, error) {
	t.out = nil
	t.eng.tr.flushAll()
	out := t.out
	t.out = nil
	return out, t.SaveState()
}

// Poll scans the directories, reads bytes appended since the previous
// poll, and returns the sessions completed meanwhile. State is saved at
// the end of every poll (also when ctx is cancelled part-way, so work done
// is not repeated). Per-file problems are reported as FileError events,
// not as an error.
func (t *Tailer) Poll(ctx context.Context) (*PollResult, error) {
	before := t.stats
	t.out = nil
	res := &PollResult{}
	paths, scanErr := FindLogFiles(ctx, t.cfg.Dirs, t.cfg.MaxDepth)
	present := make(map[string]bool, len(paths))
	var ctxErr error
	for _, p := range paths {
		present[p] = true
		if err := ctx.Err(); err != nil {
			ctxErr = err
			break
		}
		if err := t.pollFile(ctx, p, res); err != nil {
			if ctx.Err() != nil {
				ctxErr = ctx.Err()
				break
			}
			res.Events = append(res.Events, FileEvent{Path: p, Kind: FileError, Err: err.Error()})
		}
	}
	if ctxErr == nil && scanErr == nil {
		for p := range t.files {
			if !present[p] {
				delete(t.files, p)
				res.Events = append(res.Events, FileEvent{Path: p, Kind: FileRemoved})
			}
		}
	}
	t.eng.tr.flushIdle(t.cfg.Now().Add(-t.cfg.IdleTimeout))
	res.Sessions = t.out
	t.out = nil
	res.Stats = t.stats
	res.Stats.sub(before)
	saveErr := t.SaveState()
	var errs []error
	if ctxErr != nil {
		errs = append(errs, fmt.Errorf("poll: %w", ctxErr))
	}
	if scanErr != nil && ctxErr == nil {
		errs = append(errs, scanErr)
	}
	if saveErr != nil {
		errs = append(errs, saveErr)
	}
	return res, errors.Join(errs...)
}

func (s *Stats) sub(o Stats) {
	s.Files -= o.Files
	s.Bytes -= o.Bytes
	s.Lines -= o.Lines
	s.HeaderLines -= o.HeaderLines
	s.Rows -= o.Rows
	s.BadRows -= o.BadRows
	s.LongLines -= o.LongLines
	s.Sessions -= o.Sessions
	s.Evicted -= o.Evicted
}

func (t *Tailer) pollFile(ctx context.Context, path string, res *PollResult) error {
	f, err := openLog(path)
	if err != nil {
		return fmt.Errorf("open protocol log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat protocol log: %w", err)
	}
	tf := t.files[path]
	if tf == nil {
		tf = &tailFile{path: path}
		tf.reset(t.cfg.MaxLineBytes)
		t.files[path] = tf
		t.stats.Files++
		res.Events = append(res.Events, FileEvent{Path: path, Kind: FileNew})
	} else {
		var kind FileEventKind
		switch {
		case tf.info != nil && !os.SameFile(tf.info, fi):
			kind = FileReplaced
		case fi.Size() < tf.readOff:
			kind = FileTruncated
		case tf.idLen > 0 && (tf.info == nil || fi.Size() != tf.info.Size() || !fi.ModTime().Equal(tf.info.ModTime())):
			same, err := t.sameIdentity(f, tf)
			if err != nil {
				return err
			}
			if !same {
				kind = FileReplaced
			}
		}
		if kind != "" {
			tf.reset(t.cfg.MaxLineBytes)
			res.Events = append(res.Events, FileEvent{Path: path, Kind: kind})
		}
	}
	tf.info = fi
	size := fi.Size()
	if size <= tf.readOff {
		return nil
	}
	if _, err := f.Seek(tf.readOff, io.SeekStart); err != nil {
		return fmt.Errorf("seek protocol log: %w", err)
	}
	fn := func(line []byte) { t.eng.line(tf.fs, line) }
	longBefore := tf.feeder.long
	defer func() { t.stats.LongLines += tf.feeder.long - longBefore }()
	remaining := size - tf.readOff
	for remaining > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(int64(len(t.buf)), remaining)
		n, err := io.ReadFull(f, t.buf[:want])
		if n > 0 {
			chunk := t.buf[:n]
			if tf.readOff == 0 && tf.idLen == 0 {
				tf.idLen = min(n, identityPrefix)
				tf.idHash = hashPrefix(chunk[:tf.idLen])
			}
			t.bytesRead += int64(n)
			t.stats.Bytes += int64(n)
			tf.readOff += int64(n)
			remaining -= int64(n)
			tf.feeder.feed(chunk, fn)
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil // file shrank under us; next poll notices
			}
			return fmt.Errorf("read protocol log: %w", err)
		}
	}
	return nil
}

func (t *Tailer) sameIdentity(f *os.File, tf *tailFile) (bool, error) {
	b := make([]byte, tf.idLen)
	n, err := f.ReadAt(b, 0)
	t.probeBytes += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("probe protocol log identity: %w", err)
	}
	return n == tf.idLen && hashPrefix(b) == tf.idHash, nil
}

func hashPrefix(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}
