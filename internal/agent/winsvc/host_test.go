package winsvc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

type fakeEvents struct {
	mu  sync.Mutex
	got []string
}

func (f *fakeEvents) add(kind string, id uint32, msg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fmt.Sprintf("%s/%d %s", kind, id, msg))
	return nil
}
func (f *fakeEvents) Info(id uint32, m string) error    { return f.add("info", id, m) }
func (f *fakeEvents) Warning(id uint32, m string) error { return f.add("warn", id, m) }
func (f *fakeEvents) Error(id uint32, m string) error   { return f.add("error", id, m) }

func TestLevelOf(t *testing.T) {
	for line, want := range map[string]Level{
		`time=x level=ERROR msg="stream lost"`:         LevelError,
		`time=x level=WARN msg=retry`:                  LevelWarning,
		`time=x level=INFO msg=ok`:                     LevelInfo,
		`{"time":"x","level":"ERROR","msg":"boom"}`:    LevelError,
		`{"time":"x","level":"WARN+2","msg":"hmm"}`:    LevelWarning,
		`panic: runtime error: index out of range [3]`: LevelInfo,
	} {
		if got := LevelOf(line); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}

func TestLogWriterRoutesLines(t *testing.T) {
	var file strings.Builder
	ev := &fakeEvents{}
	w := NewLogWriter(&file, ev, LevelWarning)
	// Lines arrive split across writes, as slog's handler may not guarantee.
	for _, chunk := range []string{"level=INFO msg=a\nlevel=WA", "RN msg=b\n", "level=ERROR msg=c\nlevel=INFO msg=partial"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "level=INFO msg=a\nlevel=WARN msg=b\nlevel=ERROR msg=c\n"; file.String() != want {
		t.Errorf("file got %q", file.String())
	}
	if want := []string{"warn/2 level=WARN msg=b", "error/3 level=ERROR msg=c"}; strings.Join(ev.got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", ev.got, want)
	}
}

func TestRotatingFile(t *testing.T) {
	path := filepath.Join(tempdir.New(t), "agent.log")
	r, err := OpenRotating(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	line := strings.Repeat("x", 39) + "\n" // 40 bytes
	for range 7 {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(cur) > 100 || len(old) > 100 || len(old) == 0 {
		t.Errorf("sizes: current %d, rotated %d (max 100 each)", len(cur), len(old))
	}
	if (len(cur)+len(old))%40 != 0 {
		t.Errorf("a line was split across files")
	}
}
