package protolog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const stateVersion = 1

// tailState is the JSON persisted by the Tailer.
type tailState struct {
	Version int             `json:"version"`
	Saved   time.Time       `json:"saved"`
	NextOrd int64           `json:"nextOrd"`
	Files   []fileStateJSON `json:"files"`
	Open    []*sessState    `json:"open,omitempty"`
}

type fileStateJSON struct {
	Path     string   `json:"path"`
	Offset   int64    `json:"offset"` // first byte not yet consumed (line boundary)
	Skipping bool     `json:"skipping,omitempty"`
	IDLen    int      `json:"idLen,omitempty"`
	IDHash   string   `json:"idHash,omitempty"`
	Lines    int64    `json:"lines,omitempty"`
	Info     FileInfo `json:"info"`
}

// SaveState writes the state file atomically (temp file, fsync, rename).
// It is a no-op when no StatePath is configured.
func (t *Tailer) SaveState() error {
	if t.cfg.StatePath == "" {
		return nil
	}
	st := tailState{Version: stateVersion, Saved: t.cfg.Now().UTC(), NextOrd: t.eng.tr.ord, Open: t.eng.tr.openStates()}
	for _, p := range sortedKeys(t.files) {
		f := t.files[p]
		st.Files = append(st.Files, fileStateJSON{
			Path: p, Offset: f.consumed(), Skipping: f.feeder.skipping,
			IDLen: f.idLen, IDHash: f.idHash, Lines: f.fs.lines, Info: f.fs.info,
		})
	}
	b, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("encode tailer state: %w", err)
	}
	return writeFileAtomic(t.cfg.StatePath, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write tailer state: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write tailer state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync tailer state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close tailer state: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("rename tailer state: %w", err)
	}
	ok = true
	return nil
}

func (t *Tailer) loadState() error {
	b, err := os.ReadFile(t.cfg.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read tailer state: %w", err)
	}
	var st tailState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadState, t.cfg.StatePath, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("%w: %s: version %d, want %d", ErrBadState, t.cfg.StatePath, st.Version, stateVersion)
	}
	for _, fj := range st.Files {
		if fj.Path == "" || fj.Offset < 0 || fj.IDLen < 0 || fj.IDLen > identityPrefix {
			return fmt.Errorf("%w: %s: bad file entry %q", ErrBadState, t.cfg.StatePath, fj.Path)
		}
		tf := &tailFile{path: fj.Path}
		tf.reset(t.cfg.MaxLineBytes)
		tf.readOff = fj.Offset
		tf.feeder.skipping = fj.Skipping
		tf.idLen, tf.idHash = fj.IDLen, fj.IDHash
		tf.fs.info = fj.Info
		tf.fs.info.Name = fj.Path
		tf.fs.fm = newFieldMap(fj.Info.Fields)
		tf.fs.lines = fj.Lines
		t.files[fj.Path] = tf
	}
	tr := t.eng.tr
	tr.ord = st.NextOrd
	for _, ss := range st.Open {
		if ss == nil || ss.S.ID == "" || ss.S.Direction > DirectionReceive {
			continue
		}
		if ss.CurCert >= len(ss.S.Certificates) {
			ss.CurCert = -1
		}
		if ss.Ord >= tr.ord {
			tr.ord = ss.Ord + 1
		}
		if tr.nOpen >= tr.maxOpen {
			break
		}
		if _, dup := tr.open[ss.S.Direction][ss.S.ID]; dup {
			continue
		}
		tr.open[ss.S.Direction][ss.S.ID] = ss
		ss.live = true
		tr.nOpen++
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
