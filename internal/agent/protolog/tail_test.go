package protolog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func newTestTailer(t *testing.T, dir, state string, clk *fakeClock) *Tailer {
	t.Helper()
	tl, err := NewTailer(TailerConfig{Dirs: []string{dir}, StatePath: state, Now: clk.now, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func mustPoll(t *testing.T, tl *Tailer) *PollResult {
	t.Helper()
	res, err := tl.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTailerReadsOnlyNewBytes appends a generated log in uneven pieces
// (splitting lines mid-way) and checks that the bytes read equal the file
// growth exactly and that the sessions equal a one-shot parse.
func TestTailerReadsOnlyNewBytes(t *testing.T) {
	root := tempdir.New(t)
	dir := filepath.Join(root, "TransportRoles", "Logs", "Hub", "ProtocolLog", "SmtpSend")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "SEND20190502-1.log")
	data := genLog(genOptions{Sessions: 120, Interleave: 10, Seed: 3})
	clk := &fakeClock{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	tl := newTestTailer(t, root, filepath.Join(root, "state.json"), clk)

	var got []Session
	off := 0
	step := 7919 // prime: pieces end mid-line
	for off < len(data) {
		end := min(off+step, len(data))
		appendFile(t, path, data[off:end])
		growth := int64(end - off)
		off = end
		before := tl.BytesRead()
		res := mustPoll(t, tl)
		if read := tl.BytesRead() - before; read != growth {
			t.Fatalf("read %d bytes, file grew %d", read, growth)
		}
		got = append(got, res.Sessions...)
		// A poll with no growth reads nothing.
		before = tl.BytesRead()
		mustPoll(t, tl)
		if tl.BytesRead() != before {
			t.Fatalf("idle poll read %d bytes", tl.BytesRead()-before)
		}
	}
	if tl.BytesRead() != int64(len(data)) {
		t.Fatalf("BytesRead %d, file size %d", tl.BytesRead(), len(data))
	}
	var p Parser
	want, err := p.Parse(context.Background(), bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Sessions) {
		t.Fatalf("tailed %d sessions, parsed %d", len(got), len(want.Sessions))
	}
	gj, _ := json.Marshal(sortByID(got))
	wj, _ := json.Marshal(sortByID(want.Sessions))
	if !bytes.Equal(gj, wj) {
		t.Fatal("tailed sessions differ from batch parse")
	}
}

func sortByID(s []Session) []Session {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b Session) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return s
}

func TestTailerPartialLineNotConsumed(t *testing.T) {
	root := tempdir.New(t)
	path := filepath.Join(root, "SEND20210301-1.log")
	clk := &fakeClock{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	state := filepath.Join(root, "state.json")
	tl := newTestTailer(t, root, state, clk)
	appendFile(t, path, []byte(hdrSend+"2021-03-01T10:00:00.000Z,C,S1,0,,,*,,TLS negotiation failed with error NoCre"))
	res := mustPoll(t, tl)
	if res.Stats.Rows != 0 || len(tl.OpenSessions()) != 0 {
		t.Fatalf("partial line consumed: %+v", res.Stats)
	}
	// Persisted offset stops at the line boundary.
	var st tailState
	b, _ := os.ReadFile(state)
	json.Unmarshal(b, &st)
	if st.Files[0].Offset != int64(len(hdrSend)) {
		t.Fatalf("offset %d want %d", st.Files[0].Offset, len(hdrSend))
	}
	appendFile(t, path, []byte("dentials\r\n2021-03-01T10:00:00.000Z,C,S1,1,,,-,,Local\r\n"))
	res = mustPoll(t, tl)
	if len(res.Sessions) != 1 || res.Sessions[0].TLS.Status != "NoCredentials" {
		t.Fatalf("%+v", res.Sessions)
	}
}

func TestTailerRestartResumes(t *testing.T) {
	root := tempdir.New(t)
	path := filepath.Join(root, "SEND20210301-1.log")
	state := filepath.Join(root, "state.json")
	clk := &fakeClock{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	appendFile(t, path, []byte(hdrSend+
		"2021-03-01T10:00:00.000Z,Outbound to Office 365,S1,0,,,*,,Sending certificate\n"+
		"2021-03-01T10:00:00.000Z,Outbound to Office 365,S1,1,,,*,B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C,Certificate thumbprint\n"+
		"2021-03-01T10:00:00.000Z,Outbound to Office 365,S1,2,,,*,,TLS negotiation failed with error NoCred"))
	tl := newTestTailer(t, root, state, clk)
	mustPoll(t, tl)
	firstRead := tl.BytesRead()

	// "Restart": a new Tailer from the state file; the open session and
	// the offset (at the start of the partial line) survive.
	appendFile(t, path, []byte("entials\n2021-03-01T10:00:00.000Z,Outbound to Office 365,S1,3,,,-,,Local\n"))
	tl2 := newTestTailer(t, root, state, clk)
	if len(tl2.OpenSessions()) != 1 {
		t.Fatalf("open sessions not restored")
	}
	res := mustPoll(t, tl2)
	if len(res.Sessions) != 1 {
		t.Fatalf("sessions %+v events %+v", res.Sessions, res.Events)
	}
	s := res.Sessions[0]
	if s.TLS.Status != "NoCredentials" || s.SentCertificate() == nil || s.SentCertificate().Thumbprint != "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C" || !s.Closed || s.Direction != DirectionSend {
		t.Fatalf("%+v", s)
	}
	fi, _ := os.Stat(path)
	partial := int64(len("2021-03-01T10:00:00.000Z,Outbound to Office 365,S1,2,,,*,,TLS negotiation failed with error NoCred"))
	if firstRead+tl2.BytesRead() != fi.Size()+partial {
		t.Fatalf("re-read more than the partial line: %d + %d vs %d", firstRead, tl2.BytesRead(), fi.Size())
	}
	if len(res.Events) != 0 {
		t.Fatalf("unexpected events %+v", res.Events)
	}
}

func TestTailerRotationTruncationReplacement(t *testing.T) {
	root := tempdir.New(t)
	p1 := filepath.Join(root, "SEND20210301-1.log")
	p2 := filepath.Join(root, "SEND20210301-2.log")
	state := filepath.Join(root, "state.json")
	clk := &fakeClock{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	tl := newTestTailer(t, root, state, clk)

	appendFile(t, p1, []byte(hdrSend+"2021-03-01T10:00:00.000Z,C,S1,0,,,*,,Sending certificate\n"))
	res := mustPoll(t, tl)
	if len(res.Events) != 1 || res.Events[0].Kind != FileNew {
		t.Fatalf("%+v", res.Events)
	}
	// Rotation: the session continues in a new file.
	appendFile(t, p2, []byte(hdrSend+"2021-03-01T10:00:01.000Z,C,S1,1,,,*,,TLS negotiation failed with error NoCredentials\n2021-03-01T10:00:01.000Z,C,S1,2,,,-,,Local\n"))
	res = mustPoll(t, tl)
	if len(res.Sessions) != 1 || len(res.Sessions[0].Files) != 2 || res.Sessions[0].TLS.Status != "NoCredentials" {
		t.Fatalf("rotation: %+v", res.Sessions)
	}

	// Truncation: p2 rewritten shorter.
	os.WriteFile(p2, []byte("2021-03-01T11:00:00.000Z,C,S2,0,,,+,,\n"), 0o644)
	res = mustPoll(t, tl)
	if !hasEvent(res, p2, FileTruncated) || res.Stats.Rows != 1 {
		t.Fatalf("truncation: %+v %+v", res.Events, res.Stats)
	}

	// Replacement by rename (new inode), longer than the old offset.
	tmp := filepath.Join(root, "tmp.new")
	os.WriteFile(tmp, []byte(hdrSend+"2021-03-01T12:00:00.000Z,C,S3,0,,,+,,\n2021-03-01T12:00:00.000Z,C,S3,1,,,-,,\n"), 0o644)
	os.Rename(tmp, p1)
	res = mustPoll(t, tl)
	if !hasEvent(res, p1, FileReplaced) {
		t.Fatalf("replacement: %+v", res.Events)
	}

	// Replacement across a restart (no cached FileInfo): caught by the
	// identity hash even though the new file is longer than the offset.
	os.WriteFile(p1, []byte("#Software: Microsoft Exchange Server\n#Date: 2099-01-01T00:00:00.000Z\n"+string(bytes.Repeat([]byte("2021-03-01T12:00:00.000Z,C,S4,0,,,+,,\n"), 20))), 0o644)
	tl2 := newTestTailer(t, root, state, clk)
	res = mustPoll(t, tl2)
	if !hasEvent(res, p1, FileReplaced) {
		t.Fatalf("replacement after restart: %+v", res.Events)
	}

	// Removal.
	os.Remove(p2)
	res = mustPoll(t, tl2)
	if !hasEvent(res, p2, FileRemoved) {
		t.Fatalf("removal: %+v", res.Events)
	}
}

func hasEvent(res *PollResult, path string, k FileEventKind) bool {
	for _, e := range res.Events {
		if e.Path == path && e.Kind == k {
			return true
		}
	}
	return false
}

func TestTailerIdleFlush(t *testing.T) {
	root := tempdir.New(t)
	path := filepath.Join(root, "SEND20210301-1.log")
	clk := &fakeClock{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	tl := newTestTailer(t, root, "", clk)
	appendFile(t, path, []byte("2021-03-01T10:00:00.000Z,C,S1,0,,,+,,\n"))
	if res := mustPoll(t, tl); len(res.Sessions) != 0 {
		t.Fatal("flushed too early")
	}
	clk.t = clk.t.Add(2 * time.Minute)
	res := mustPoll(t, tl)
	if len(res.Sessions) != 1 || res.Sessions[0].Closed {
		t.Fatalf("%+v", res.Sessions)
	}
}

func TestTailerBadState(t *testing.T) {
	root := tempdir.New(t)
	state := filepath.Join(root, "state.json")
	os.WriteFile(state, []byte("{not json"), 0o644)
	if _, err := NewTailer(TailerConfig{Dirs: []string{root}, StatePath: state}); !errors.Is(err, ErrBadState) {
		t.Fatalf("err %v", err)
	}
	if _, err := NewTailer(TailerConfig{Dirs: []string{root}, StatePath: state, IgnoreBadState: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTailer(TailerConfig{}); !errors.Is(err, ErrNoDirs) {
		t.Fatal(err)
	}
}

func TestTailerCancel(t *testing.T) {
	root := tempdir.New(t)
	appendFile(t, filepath.Join(root, "SEND20210301-1.log"), genLog(genOptions{Sessions: 50, Seed: 9}))
	tl := newTestTailer(t, root, "", &fakeClock{time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tl.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
