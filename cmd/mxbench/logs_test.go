package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestMain(m *testing.M) {
	reopenChild() // the state mode's reopen child is this test binary
	os.Exit(m.Run())
}

// TestStateMode runs `mxbench -mode state` at a small size: restore,
// reopen in a child process, snapshot. It prints figures, asserts none.
func TestStateMode(t *testing.T) {
	if testing.Short() {
		t.Skip("raft on disk")
	}
	if err := runState(context.Background(), options{stateAgents: 300, runs: 1}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// TestLogsMode runs `mxbench -mode logs` on a small generated log: the
// benchmark command of the protocol-log figures keeps working (it builds
// the agent, generates the log, runs grep and agent check, and checks the
// check found the generated TLS failures). It prints figures, asserts none.
func TestLogsMode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs grep and a Linux agent build")
	}
	if _, err := exec.LookPath("grep"); err != nil {
		t.Skip("no grep")
	}
	if testing.Short() {
		t.Skip("builds the agent")
	}
	o := options{logSize: 4 << 20, runs: 1}
	if err := runLogs(context.Background(), o, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
