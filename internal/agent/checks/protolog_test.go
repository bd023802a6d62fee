package checks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// agent run: the tailing check reads only new bytes, keeps a failure as a
// finding across rounds (and across a restart, from state_dir) until a
// session on the same path succeeds.
func TestProtocolLogTailKeepsFailuresUntilSuccess(t *testing.T) {
	logs, state := tempdir.New(t), tempdir.New(t)
	path := filepath.Join(logs, "SmtpSend", "SEND20190502-1.log")
	fail := checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpTail, Failure: "NoCredentials"})
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", fail); err != nil {
		t.Fatal(err)
	}
	newCheck := func() *ProtocolLogs {
		return &ProtocolLogs{Dirs: []string{logs}, Tail: true, StateDir: state}
	}
	round := func(c *ProtocolLogs) bool {
		t.Helper()
		fs, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Code == string(finding.LogTLSNegotiationFailed) {
				return true
			}
		}
		return false
	}
	c := newCheck()
	if !round(c) {
		t.Fatal("round 1: failure not reported")
	}
	read := c.tailer.BytesRead()
	if !round(c) {
		t.Fatal("round 2 (no new lines): failure forgotten")
	}
	if c.tailer.BytesRead() != read {
		t.Fatalf("round 2 re-read %d bytes", c.tailer.BytesRead()-read)
	}
	// Restart: a new check resumes from state_dir.
	c = newCheck()
	if !round(c) {
		t.Fatal("after restart: failure forgotten")
	}
	if c.tailer.BytesRead() != 0 {
		t.Fatalf("after restart re-read %d bytes", c.tailer.BytesRead())
	}
	// A successful session on the same connector clears it.
	ok := checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpTail, Start: time.Date(2019, 5, 2, 7, 0, 0, 0, time.UTC)})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(skipHeader(ok)); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if round(c) {
		t.Fatal("failure still reported after a successful session")
	}
}

const tpTail = "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"

func skipHeader(b []byte) []byte {
	for len(b) > 0 && b[0] == '#' {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		b = b[i+1:]
	}
	return b
}

// A log directory whose files hold only lines that are no protocol log rows
// is a finding, in both modes, and stops being one once rows parse.
func TestProtocolLogsOfOnlyUnparseableRows(t *testing.T) {
	logs := tempdir.New(t)
	good := checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpTail})
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", utf16LE(good)); err != nil {
		t.Fatal(err)
	}
	has := func(c *ProtocolLogs) bool {
		t.Helper()
		fs, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Code == string(finding.LogUnparseable) {
				if f.Evidence["rows"] != "0" || f.Evidence["bad_rows"] == "0" {
					t.Errorf("evidence %v", f.Evidence)
				}
				return true
			}
		}
		return false
	}
	if !has(&ProtocolLogs{Dirs: []string{logs}}) {
		t.Fatal("agent check: UTF-16 copy of a log not reported")
	}
	tail := &ProtocolLogs{Dirs: []string{logs}, Tail: true, StateDir: tempdir.New(t)}
	if !has(tail) || !has(tail) {
		t.Fatal("agent run: unparseable log not reported on every round")
	}
	// The original file beside it parses: no finding.
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-2.log", good); err != nil {
		t.Fatal(err)
	}
	if has(&ProtocolLogs{Dirs: []string{logs}}) {
		t.Fatal("agent check: reported although rows parsed")
	}
	if has(tail) {
		t.Fatal("agent run: reported although rows parsed")
	}
}
