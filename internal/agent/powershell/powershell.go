// Package powershell runs a script in Windows PowerShell the way mxprobe's
// collectors need it: passed with -EncodedCommand (no quoting problems, no
// script file), bounded in time and in the output read, and with stderr kept
// for error messages. Collect (collect.go) runs mxprobe's collectors: a script
// body embedded by its owner package after prelude.ps1, returning the one JSON
// document the body emits. The Exchange configuration and Get-Queue
// collectors share it.
package powershell

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Sentinel errors callers branch on.
var (
	ErrOutputTooLarge = errors.New("powershell: output larger than the limit")
	ErrTimeout        = errors.New("powershell: did not finish in time")
)

// MaxStderrBytes bounds the stderr kept for error messages.
const MaxStderrBytes = 64 << 10

// EncodeCommand encodes a script for powershell.exe -EncodedCommand
// (base64 of UTF-16LE).
func EncodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Args are the arguments that run script non-interactively.
func Args(script string) []string {
	return []string{"-NoProfile", "-NonInteractive", "-NoLogo", "-EncodedCommand", EncodeCommand(script)}
}

// Result is what a run produced.
type Result struct {
	Stdout, Stderr []byte
	// RunErr is the process's own failure (non-zero exit), if any.
	RunErr error
}

// Run starts name with args, waits at most timeout, and reads at most
// maxOutput bytes of stdout (the process is stopped when it writes more).
// configure adjusts the command before it starts (Windows: no console).
// The error is ErrTimeout, ErrOutputTooLarge or ctx's; a non-zero exit is
// not an error here but Result.RunErr, since the script's output usually
// explains it better.
func Run(ctx context.Context, name string, args []string, timeout time.Duration, maxOutput int64, configure func(*exec.Cmd)) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if configure != nil {
		configure(cmd)
	}
	// Grandchildren holding the pipes must not keep Wait from returning.
	cmd.WaitDelay = 5 * time.Second
	stdout := &limitedBuffer{max: maxOutput, onOverflow: cancel}
	stderr := &limitedBuffer{max: MaxStderrBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	if stdout.overflowed() {
		return Result{}, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, maxOutput)
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Result{}, fmt.Errorf("%w (limit %s): %w", ErrTimeout, timeout, err)
		}
		return Result{}, err
	}
	return Result{Stdout: stdout.bytes(), Stderr: stderr.bytes(), RunErr: runErr}, nil
}

// FirstLines trims text for an error message.
func FirstLines(b []byte, max int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// limitedBuffer keeps at most max bytes and remembers that more were offered;
// it never fails a write (a failing writer would leave the child blocked on a
// full pipe). onOverflow runs once, when the limit is first exceeded.
type limitedBuffer struct {
	mu         sync.Mutex
	buf        bytes.Buffer
	max        int64
	overflow   bool
	onOverflow func()
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room := l.max - int64(l.buf.Len())
	if int64(len(p)) > room {
		if room > 0 {
			l.buf.Write(p[:room])
		}
		if !l.overflow {
			l.overflow = true
			if l.onOverflow != nil {
				l.onOverflow()
			}
		}
		return len(p), nil
	}
	l.buf.Write(p)
	return len(p), nil
}

func (l *limitedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.buf.Bytes()...)
}

func (l *limitedBuffer) overflowed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.overflow
}
