package powershell

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
	"unicode/utf16"
)

func TestLimitedBuffer(t *testing.T) {
	calls := 0
	l := &limitedBuffer{max: 5, onOverflow: func() { calls++ }}
	for _, s := range []string{"abc", "def", "ghi"} {
		if n, err := l.Write([]byte(s)); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(l.bytes()) != "abcde" || !l.overflowed() || calls != 1 {
		t.Errorf("buffer %q overflow %v calls %d", l.bytes(), l.overflowed(), calls)
	}
}

func TestEncodeCommandIsUTF16LEBase64(t *testing.T) {
	b, err := base64.StdEncoding.DecodeString(EncodeCommand("Get-Queue | ConvertTo-Json"))
	if err != nil || len(b)%2 != 0 {
		t.Fatal(err)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	if got := string(utf16.Decode(u)); got != "Get-Queue | ConvertTo-Json" {
		t.Fatalf("decoded %q", got)
	}
}

// The test binary stands in for powershell.exe (MXPS_MODE selects a behaviour).
func TestMain(m *testing.M) {
	switch os.Getenv("MXPS_MODE") {
	case "flood":
		buf := make([]byte, 1<<16)
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				os.Exit(0)
			}
		}
	case "hang":
		// Far past the callers' timeouts (at most 500 ms), and short of go
		// test's one-minute wait for the test's output to close: under
		// Wine a TerminateProcess that races the child's start-up can be
		// lost, and the child holds the inherited output while it sleeps.
		time.Sleep(15 * time.Second)
		os.Exit(0)
	case "fail":
		os.Stdout.WriteString("partial")
		os.Stderr.WriteString("boom")
		os.Exit(3)
	case "ok":
		os.Stdout.WriteString(emitted(banner, `{"ok":true}`))
		os.Exit(0)
	case "collector-error":
		os.Stdout.WriteString(emitted(banner, `{"CollectorError":"no Exchange Management Shell snap-in is registered on this computer"}`))
		os.Exit(2)
	case "crash":
		os.Stderr.WriteString("powershell.exe : The term 'x' is not recognized\r\n")
		os.Exit(1)
	case "silent":
		os.Stdout.WriteString(banner)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunBounds(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mode := func(m string) func(*exec.Cmd) {
		return func(c *exec.Cmd) { c.Env = append(os.Environ(), "MXPS_MODE="+m) }
	}
	if _, err := Run(context.Background(), self, nil, 10*time.Second, 1<<20, mode("flood")); !errors.Is(err, ErrOutputTooLarge) {
		t.Errorf("flood: %v", err)
	}
	if _, err := Run(context.Background(), self, nil, 500*time.Millisecond, 1<<20, mode("hang")); !errors.Is(err, ErrTimeout) {
		t.Errorf("hang: %v", err)
	}
	res, err := Run(context.Background(), self, nil, 10*time.Second, 1<<20, mode("fail"))
	if err != nil || res.RunErr == nil || string(res.Stdout) != "partial" || string(res.Stderr) != "boom" {
		t.Errorf("fail: %+v %v", res, err)
	}
}
