package dirlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSecondHolderRefusedWithPid(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(context.Background(), dir, 300*time.Millisecond)
	want := fmt.Sprintf("data directory %s is in use by another controller (pid %d)", dir, os.Getpid())
	if !errors.Is(err, ErrInUse) || err.Error() != want {
		t.Fatalf("second Acquire: %v, want %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	_ = l2.Release()
}

func TestWaitEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Acquire(ctx, dir, time.Hour); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Acquire with a one-hour timeout ignored its context")
	}
}

func TestHolderReleasedWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l2, err := Acquire(context.Background(), dir, time.Minute)
		if err == nil {
			err = l2.Release()
		}
		done <- err
	}()
	time.Sleep(2 * pollInterval)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting Acquire after the holder let go: %v", err)
	}
	b, _ := os.ReadFile(dir + "/" + FileName)
	if strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("lock file holds %q, want this pid", b)
	}
}
