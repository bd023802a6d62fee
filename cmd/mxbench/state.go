package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/portalloc"
)

// runState measures the controller's replicated state at fleet sizes: a
// single-node store on disk (fsync on) restores a backup of N agents
// (results of 20 checks each, a finding on every fourth) through raft, as
// `controller restore` does, and stops; the node is reopened in a fresh
// process (time until the state is back, peak RSS of that process); then
// it takes a raft snapshot (persist time, size on disk).
func runState(ctx context.Context, o options, tmp string) error {
	sizes := []int{1000, 10000, 50000}
	if o.stateAgents > 0 {
		sizes = []int{o.stateAgents}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("state: single node, raft on disk, %d checks per agent, %d runs each; load average before %s\n", stateChecks, o.runs, loadAvg())
	for _, n := range sizes {
		var persist, reopen, size, rss []float64
		for range o.runs {
			dir, err := os.MkdirTemp(tmp, "state-")
			if err != nil {
				return err
			}
			if err := populateState(ctx, dir, n); err != nil {
				return fmt.Errorf("%d agents: %w", n, err)
			}
			r, err := timedEnv(ctx, []string{reopenEnv + "=" + dir, reopenAgentsEnv + "=" + fmt.Sprint(n)}, self)
			if err != nil {
				return fmt.Errorf("%d agents: reopen: %w\n%s", n, err, r.stderr)
			}
			d, hwm, err := parseReopen(r.stdout)
			if err != nil {
				return fmt.Errorf("%d agents: reopen said %q: %w", n, r.stdout, err)
			}
			p, sz, err := persistState(ctx, dir)
			if err != nil {
				return fmt.Errorf("%d agents: persist: %w", n, err)
			}
			persist, reopen = append(persist, p.Seconds()), append(reopen, d.Seconds())
			size, rss = append(size, float64(sz)/(1<<20)), append(rss, float64(hwm)/(1<<20))
			os.RemoveAll(dir)
		}
		fmt.Printf("state: %6d agents: snapshot %s MiB, persist %s s, reopen %s s, reopen peak RSS %s MiB (min / median / max; load %s)\n",
			n, spreadOf(size).format("%.1f"), spreadOf(persist).format("%.2f"), spreadOf(reopen).format("%.2f"), spreadOf(rss).format("%.0f"), loadAvg())
		o.table.put(row{key: fmt.Sprintf("reopen-%d", n), what: fmt.Sprintf("reopen of a node with %s agents' state", thousands(n)), unit: "s", format: "%.2f", value: spreadOf(reopen), load: loadAvg()})
		o.table.put(row{key: fmt.Sprintf("rss-%d", n), what: "  its peak RSS", unit: "MiB", format: "%.0f", value: spreadOf(rss), load: loadAvg()})
	}
	return nil
}

const stateChecks = 20

func stateBackup(n int) ([]byte, string) {
	now := timestamppb.Now()
	snap := &mxv1.StateSnapshot{}
	var last string
	for i := range n {
		id := fmt.Sprintf("edge%06d", i)
		last = id
		snap.Agents = append(snap.Agents, &mxv1.Agent{AgentId: id, Site: fmt.Sprintf("site%03d", i%100), Hostname: id + ".contoso.com", Version: "1.0.0", FirstSeen: now, LastSeen: now, LastSeq: 42, ResultsCommitted: 42 * stateChecks})
		for c := range stateChecks {
			res := &mxv1.CheckResult{Check: fmt.Sprintf("check%02d", c), Target: "pemdir:/etc/mxprobe/certs", Status: mxv1.CheckStatus_CHECK_STATUS_OK}
			if c%4 == 0 {
				res.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
				res.Findings = []*mxv1.Finding{{Code: "CERT_EXPIRED", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C", Summary: "The certificate bound to the send connector expired.", Evidence: map[string]string{"connector": "Outbound to Office 365", "not_after": "2026-01-01T00:00:00Z"}}}
			}
			snap.Results = append(snap.Results, &mxv1.StoredResult{AgentId: id, Result: res, CommittedAt: now})
		}
	}
	b, err := proto.Marshal(snap)
	if err != nil {
		panic(err)
	}
	return b, last
}

func stateStore(dir, addr string) (*store.Store, error) {
	return store.Open(store.Config{NodeID: "n1", DataDir: dir, RaftBind: addr, Bootstrap: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// populateState restores a backup of n agents into a new node in dir and
// closes it (what a restart then finds on disk is what it measures).
func populateState(ctx context.Context, dir string, n int) error {
	var ports portalloc.Allocator
	addr, err := ports.Loopback()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "addr"), []byte(addr), 0o600); err != nil {
		return err
	}
	s, err := stateStore(dir, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := s.WaitLeader(wctx); err != nil {
		return err
	}
	backup, _ := stateBackup(n)
	return s.Restore(wctx, backup)
}

// persistState reopens the node in dir, commits one more entry and takes
// a snapshot: its time and its size on disk.
func persistState(ctx context.Context, dir string) (time.Duration, int64, error) {
	addr, err := os.ReadFile(filepath.Join(dir, "addr"))
	if err != nil {
		return 0, 0, err
	}
	s, err := stateStore(dir, string(addr))
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := s.WaitLeader(wctx); err != nil {
		return 0, 0, err
	}
	if _, err := s.Apply(wctx, &mxv1.Command{Kind: &mxv1.Command_RegisterNode{RegisterNode: &mxv1.RegisterNode{Node: &mxv1.NodeInfo{NodeId: "n1"}}}}); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := s.Snapshot(); err != nil {
		return 0, 0, err
	}
	d := time.Since(start)
	sz, err := newestSnapshotSize(dir)
	return d, sz, err
}

func newestSnapshotSize(dir string) (int64, error) {
	ms, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
	if err != nil || len(ms) == 0 {
		return 0, errors.Join(err, errors.New("no snapshot on disk"))
	}
	var newest os.FileInfo
	for _, m := range ms {
		fi, err := os.Stat(m)
		if err == nil && (newest == nil || fi.ModTime().After(newest.ModTime())) {
			newest = fi
		}
	}
	return newest.Size(), nil
}

// stateReopen is the child process of runState: open the node in dir,
// print how long until agent n-1 is back.
func stateReopen(dir string, n int) error {
	addr, err := os.ReadFile(filepath.Join(dir, "addr"))
	if err != nil {
		return err
	}
	last := fmt.Sprintf("edge%06d", n-1)
	start := time.Now()
	s, err := stateStore(dir, string(addr))
	if err != nil {
		return err
	}
	defer s.Close()
	deadline := time.Now().Add(10 * time.Minute)
	for s.State().Agent(last) == nil {
		if time.Now().After(deadline) {
			return errors.New("state not back after 10 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := time.Since(start)
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Println(d, hwm)
	return nil
}

// peakRSS is this process's peak resident set (VmHWM). The child reads
// its own: the rusage of a child started with os/exec (clone with a
// shared address space until exec) keeps the parent's high-water mark,
// which here is mxbench's own after it built the backup in memory.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// parseReopen reads the child's answer: its time until the state was back
// and its peak RSS in bytes.
func parseReopen(out []byte) (time.Duration, int64, error) {
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, 0, errors.New("want a duration and a byte count")
	}
	d, err := time.ParseDuration(f[0])
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	return d, n, err
}

// The reopen child is this binary (or the test binary) started with these
// variables set; main and TestMain call reopenChild first.
const (
	reopenEnv       = "MXBENCH_STATE_REOPEN"
	reopenAgentsEnv = "MXBENCH_STATE_AGENTS"
)

// reopenChild runs the reopen child if this process is one.
func reopenChild() {
	dir := os.Getenv(reopenEnv)
	if dir == "" {
		return
	}
	n, err := strconv.Atoi(os.Getenv(reopenAgentsEnv))
	if err == nil {
		err = stateReopen(dir, n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mxbench:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func stateFlags(o *options) {
	flag.IntVar(&o.stateAgents, "state-agents", 0, "state: measure only this many agents (default 1000, 10000 and 50000)")
}
