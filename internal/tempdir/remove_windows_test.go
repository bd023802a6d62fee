//go:build windows

package tempdir

import (
	"os"
	"path/filepath"
	"testing"
)

// Remove empties and deletes a tree whatever os.RemoveAll made of it (on
// Wine 8 it fails with "Invalid function", and the second pass does it).
func TestRemoveTree(t *testing.T) {
	dir, err := os.MkdirTemp("", "tempdir-remove-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "y", "z"), []byte("z"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
}

// A file held open without FILE_SHARE_DELETE cannot be removed on Windows;
// Remove says so instead of hiding it (t.TempDir would fail the test too).
func TestRemoveReportsAnOpenFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "tempdir-open-*")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "held")
	f, err := os.Create(p) // Go opens without FILE_SHARE_DELETE
	if err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err == nil {
		t.Error("Remove succeeded while a file was held open")
	}
	f.Close()
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
}
