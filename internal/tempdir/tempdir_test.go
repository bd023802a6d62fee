package tempdir

import (
	"os"
	"path/filepath"
	"testing"
)

// The directory exists, is writable, and is gone (with its contents, nested
// directories included) once the test that made it has ended.
func TestNewIsRemovedAfterTheTest(t *testing.T) {
	var dir string
	t.Run("user", func(t *testing.T) {
		dir = New(t)
		if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"f.txt", "a/g.txt", "a/b/h.txt"} {
			if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
	if dir == "" {
		t.Fatal("no directory")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after its test: %v", dir, err)
	}
}

// Two calls give two directories.
func TestNewIsUnique(t *testing.T) {
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("same directory twice: %s", a)
	}
}
