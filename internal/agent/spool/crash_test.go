package spool

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// crashChildEnv names the spool directory the re-executed test binary
// appends to until it is killed.
const crashChildEnv = "MXPROBE_SPOOL_CRASH_CHILD_DIR"

// TestCrashChild is the child side of TestKill9: it appends forever,
// printing "ok <seq>" after each Append returned, "trimming <seq>" before
// each Trim starts and "trim <seq>" after it returned. Every line is
// flushed before the next spool call, so the parent knows of every Trim
// that may have reached the disk: a Trim persists its watermark before it
// returns, so a kill inside Trim can leave the new watermark durable
// without "trim" ever being printed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestKill9 only")
	}
	s, err := Open(dir, Options{SegmentBytes: 16 << 10, Logger: quietLogger()})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	seq := s.LastSeq()
	deadline := time.Now().Add(30 * time.Second) // never outlive a broken parent
	for time.Now().Before(deadline) {
		seq++
		if err := s.Append(batch(seq, int(seq%5))); err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			out.Flush()
			os.Exit(2)
		}
		fmt.Fprintf(out, "ok %d\n", seq)
		if seq%37 == 0 {
			fmt.Fprintf(out, "trimming %d\n", seq-20)
			out.Flush()
			s.Trim(seq - 20)
			fmt.Fprintf(out, "trim %d\n", seq-20)
		}
		out.Flush()
	}
	os.Exit(3)
}

// TestKill9 runs the child, kills it (SIGKILL on Unix, TerminateProcess on
// Windows) at random moments, reopens the spool and checks that every
// batch the child reported as appended and not trimmed is there, in order,
// that nothing it reported trimmed is replayed, that a Trim interrupted by
// the kill took effect entirely or not at all, and that sequence numbers
// are never reused across restarts.
func TestKill9(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable path:", err)
	}
	dir := tempdir.New(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var rep reports
	const rounds = 12
	for round := range rounds {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			r := bufio.NewReader(pipe)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return // a partial last line is not a report
				}
				lines <- strings.TrimSuffix(l, "\n")
			}
		}()
		// Kill once the child is running, at a random moment.
		var first bool
		timer := time.NewTimer(10 * time.Second)
		killAt := time.Duration(5+rng.IntN(120)) * time.Millisecond
	read:
		for l := range lines {
			if !first && strings.HasPrefix(l, "ok ") {
				first = true
				timer.Reset(killAt)
			}
			if err := rep.parse(l); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			select {
			case <-timer.C:
				break read
			default:
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for l := range lines { // reports written before the kill
			if err := rep.parse(l); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		_ = cmd.Wait()
		if !first {
			t.Fatalf("round %d: child appended nothing", round)
		}

		s := openT(t, dir, Options{})
		got := s.Pending(0)
		st := s.Stats()
		present := make(map[uint64]bool, len(got))
		inflight := false // a batch in (trimmed, trimming] is still held
		for i, b := range got {
			present[b.GetSeq()] = true
			if i > 0 && b.GetSeq() <= got[i-1].GetSeq() {
				t.Fatalf("round %d: replay out of order at %d", round, b.GetSeq())
			}
			if b.GetSeq() <= rep.trimmed {
				t.Fatalf("round %d: seq %d replayed after Trim(%d) returned", round, b.GetSeq(), rep.trimmed)
			}
			if b.GetSeq() <= rep.trimming {
				inflight = true
			}
			if !bytesEqualBatch(b, batch(b.GetSeq(), int(b.GetSeq()%5))) {
				t.Fatalf("round %d: batch %d content changed", round, b.GetSeq())
			}
		}
		// A Trim the kill interrupted (trimming > trimmed) persists its
		// watermark with one atomic rename: it took effect for every batch
		// up to its seq or for none. If any of them is still held, none may
		// be missing; if none is, it took effect and they must stay gone.
		floor := rep.trimmed
		if !inflight {
			floor = rep.trimming
		}
		for _, seq := range rep.oks {
			if seq > floor && !present[seq] {
				t.Fatalf("round %d: seq %d lost (reported appended; trimmed through %d, Trim(%d) started; last reported %d)", round, seq, rep.trimmed, rep.trimming, rep.lastOK)
			}
		}
		rep.trimmed, rep.trimming = floor, floor
		if s.LastSeq() < rep.lastOK {
			t.Fatalf("round %d: LastSeq %d below reported %d", round, s.LastSeq(), rep.lastOK)
		}
		t.Logf("round %d: killed after %v at seq %d; floor %d; %d held, %d segments, %d torn/corrupt skipped", round, killAt, rep.lastOK, floor, st.Batches, st.Segments, st.Corrupt)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(rep.oks) < rounds {
		t.Fatalf("only %d appends over %d rounds", len(rep.oks), rounds)
	}
}

// reports is what the children said, across all rounds.
type reports struct {
	oks      []uint64 // every seq reported appended, in report order
	lastOK   uint64   // highest seq reported appended
	trimming uint64   // highest seq a Trim was started for
	trimmed  uint64   // highest seq a Trim returned for
}

// parse reads one child line; sequence numbers reported appended must
// keep increasing across children (no reuse after restart).
func (r *reports) parse(l string) error {
	kind, num, ok := strings.Cut(l, " ")
	if !ok {
		return fmt.Errorf("child said %q", l)
	}
	if kind == "error" {
		return fmt.Errorf("child failed: %s", num)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return fmt.Errorf("child said %q", l)
	}
	switch kind {
	case "ok":
		if n <= r.lastOK {
			return fmt.Errorf("seq %d reused (already had %d)", n, r.lastOK)
		}
		r.lastOK = n
		r.oks = append(r.oks, n)
	case "trimming":
		r.trimming = max(r.trimming, n)
	case "trim":
		if n > r.trimming {
			return fmt.Errorf("trim %d reported without trimming", n)
		}
		r.trimmed = max(r.trimmed, n)
	default:
		return fmt.Errorf("child said %q", l)
	}
	return nil
}
