//go:build windows

package protolog

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// exchangeWriter opens path the way a log writer that lets others read,
// write, rename and delete does (FILE_SHARE_READ|WRITE|DELETE), appending.
func exchangeWriter(t *testing.T, path string) *os.File {
	t.Helper()
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.FILE_APPEND_DATA|windows.SYNCHRONIZE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("open writer: %v", err)
	}
	f := os.NewFile(uintptr(h), path)
	t.Cleanup(func() { f.Close() })
	return f
}

func mustWrite(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

const sharedSession1 = `2021-03-01T10:00:00.000Z,C1,AAAA000000000001,0,10.0.0.5:1,192.0.2.1:25,+,,
2021-03-01T10:00:00.002Z,C1,AAAA000000000001,1,10.0.0.5:1,192.0.2.1:25,*,,TLS negotiation failed with error NoCredentials
2021-03-01T10:00:00.003Z,C1,AAAA000000000001,2,10.0.0.5:1,192.0.2.1:25,-,,Local
`

const sharedSession2 = `2021-03-01T10:00:05.000Z,C1,BBBB000000000002,0,10.0.0.5:2,192.0.2.1:25,+,,
2021-03-01T10:00:05.001Z,C1,BBBB000000000002,1,10.0.0.5:2,192.0.2.1:25,-,,Local
`

// TestOpenLogLetsExchangeRenameAndDelete holds a log open through openLog
// (as the parser and the tailer do while they read) while another handle
// writes to it, and checks that the file can be renamed and deleted
// meanwhile, that the reader keeps reading the bytes written after the
// rename, and that the delete takes effect once the handles close.
func TestOpenLogLetsExchangeRenameAndDelete(t *testing.T) {
	dir := tempdir.New(t)
	path := filepath.Join(dir, "SEND20210301-1.log")
	w := exchangeWriter(t, path)
	mustWrite(t, w, hdrSend+sharedSession1)

	r, err := openLog(path)
	if err != nil {
		t.Fatalf("openLog while a writer holds the file: %v", err)
	}
	defer r.Close()
	head := make([]byte, len(hdrSend))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != hdrSend {
		t.Fatalf("read header %q: %v", head, err)
	}

	// Rotation by rename while both handles are open.
	renamed := filepath.Join(dir, "SEND20210301-1.log.old")
	if err := os.Rename(path, renamed); err != nil {
		t.Fatalf("rename while the reader holds the log: %v", err)
	}
	mustWrite(t, w, sharedSession2)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := sharedSession1 + sharedSession2; string(rest) != want {
		t.Fatalf("reader after rename read %q, want %q", rest, want)
	}
	// The next file takes the old name while the renamed one is still open.
	next := exchangeWriter(t, path)
	mustWrite(t, next, hdrSend)

	// Retention deletes the renamed file while both handles are still open.
	if err := os.Remove(renamed); err != nil {
		t.Fatalf("delete while the reader holds the log: %v", err)
	}
	w.Close()
	r.Close()
	if _, err := os.Stat(renamed); !os.IsNotExist(err) {
		t.Fatalf("deleted log still there after its handles closed: %v", err)
	}

	// Control: Go's os.Open does not share delete, which is why openLog
	// exists. Logged, not asserted: it documents the platform, not our code.
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rerr := os.Rename(path, path+".ctl")
	g.Close()
	t.Logf("rename of a file held by os.Open: %v", rerr)
}

// TestOpenLogErrors: a missing file is fs.ErrNotExist, as with os.Open, so
// callers branching on it keep working.
func TestOpenLogErrors(t *testing.T) {
	_, err := openLog(filepath.Join(tempdir.New(t), "SEND20210301-1.log"))
	if !os.IsNotExist(err) || !strings.Contains(err.Error(), "SEND20210301-1.log") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestTailerFollowsLogHeldOpenByWriter follows a log that a writer holds
// open and appends to (Exchange's current log), then the writer moves on to
// the next file and retention renames the finished one away and deletes it:
// the tailer reads every session once and reports the removal.
func TestTailerFollowsLogHeldOpenByWriter(t *testing.T) {
	root := tempdir.New(t)
	dir := filepath.Join(root, "SmtpSend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "SEND20210301-1.log")
	w := exchangeWriter(t, first)
	mustWrite(t, w, hdrSend+sharedSession1[:len(sharedSession1)/2])
	clk := &fakeClock{time.Date(2021, 3, 1, 10, 1, 0, 0, time.UTC)}
	tl := newTestTailer(t, root, "", clk)
	ctx := context.Background()

	var got []Session
	res := mustPoll(t, tl)
	got = append(got, res.Sessions...)
	mustWrite(t, w, sharedSession1[len(sharedSession1)/2:])
	res = mustPoll(t, tl)
	got = append(got, res.Sessions...)
	if len(got) != 1 || got[0].ID != "AAAA000000000001" || got[0].TLS.Status != "NoCredentials" {
		t.Fatalf("sessions while the writer holds the log: %+v", got)
	}

	// Exchange starts the next file; the finished one is renamed away by
	// retention while its writer still holds it, and later deleted.
	second := exchangeWriter(t, filepath.Join(dir, "SEND20210301-2.log"))
	mustWrite(t, second, hdrSend+sharedSession2)
	if err := os.Rename(first, filepath.Join(root, "archived.log")); err != nil {
		t.Fatalf("rename the log the writer holds: %v", err)
	}
	res, err := tl.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	for _, ev := range res.Events {
		if ev.Kind == FileRemoved && ev.Path == first {
			removed = true
		}
		if ev.Kind == FileError {
			t.Errorf("file error: %+v", ev)
		}
	}
	if !removed || len(res.Sessions) != 1 || res.Sessions[0].ID != "BBBB000000000002" {
		t.Fatalf("after rotation: events %+v sessions %+v", res.Events, res.Sessions)
	}
	if err := os.Remove(filepath.Join(root, "archived.log")); err != nil {
		t.Fatalf("delete the archived log the writer holds: %v", err)
	}
}

// TestTailerRotationByRenameWhileOpen: an archiving job rotates the current
// log by renaming it while its writer still holds it open, and a new file
// takes the old name (rename-and-recreate; Exchange itself starts numbered
// files instead). The rename succeeds although the tailer read the file
// (it reads through sharedfile), the writer's later bytes go to the renamed
// file, and the tailer sees the path replaced (Windows file ID, through
// os.SameFile), reads the new file from its start, and repeats none of the
// old file's sessions.
func TestTailerRotationByRenameWhileOpen(t *testing.T) {
	root := tempdir.New(t)
	dir := filepath.Join(root, "SmtpSend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(dir, "SEND20210301-1.log")
	w := exchangeWriter(t, cur)
	mustWrite(t, w, hdrSend+sharedSession1)
	clk := &fakeClock{time.Date(2021, 3, 1, 10, 1, 0, 0, time.UTC)}
	tl := newTestTailer(t, root, "", clk)
	if res := mustPoll(t, tl); len(res.Sessions) != 1 || res.Sessions[0].ID != "AAAA000000000001" {
		t.Fatalf("before the rotation: %+v", res.Sessions)
	}
	archived := filepath.Join(root, "SEND20210301-1.log.archived")
	if err := os.Rename(cur, archived); err != nil {
		t.Fatalf("rename the current log while its writer holds it: %v", err)
	}
	mustWrite(t, w, "# the writer's handle follows the renamed file\n")
	next := exchangeWriter(t, cur)
	mustWrite(t, next, hdrSend+sharedSession2)
	res := mustPoll(t, tl)
	replaced := false
	for _, ev := range res.Events {
		if ev.Path == cur && (ev.Kind == FileReplaced || ev.Kind == FileTruncated) {
			replaced = true
		}
		if ev.Kind == FileError {
			t.Errorf("file error: %+v", ev)
		}
	}
	if !replaced || len(res.Sessions) != 1 || res.Sessions[0].ID != "BBBB000000000002" {
		t.Fatalf("after rename-and-recreate: events %+v sessions %+v", res.Events, res.Sessions)
	}
	b, err := os.ReadFile(archived)
	if err != nil || !strings.HasSuffix(string(b), "# the writer's handle follows the renamed file\n") {
		t.Fatalf("renamed file: %v %q", err, b)
	}
}
