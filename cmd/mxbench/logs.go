package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
)

// runLogs measures `agent check --protocol-logs` end to end on a generated
// send log of o.logSize bytes, next to `grep -F -c "TLS negotiation failed"`
// on the same file in the same run (the anchor: both read the file from the
// page cache, so the ratio says how far the agent is from reading speed on
// this machine at this load). With o.baselineBin, each run also measures
// that agent binary (an older build: before and after in one run).
func runLogs(ctx context.Context, o options, tmp string) error {
	dir := o.logDir
	if dir == "" {
		dir = filepath.Join(tmp, "ProtocolLog")
	}
	path := filepath.Join(dir, "SmtpSend", "SEND20190502-1.log")
	if fi, err := os.Stat(path); err != nil || fi.Size() < o.logSize {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		start := time.Now()
		err = loggen.Write(f, loggen.Options{Bytes: o.logSize, Interleave: 50, Seed: 42, PartnerFails: true})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("generate log: %w", err)
		}
		fmt.Printf("logs: generated %s in %s\n", path, time.Since(start).Round(time.Millisecond))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	size := fi.Size()
	agent := o.agentBin
	if agent == "" {
		agent = filepath.Join(tmp, "agent")
		build := exec.Command("go", "build", "-o", agent, "github.com/mxprobe/mxprobe/cmd/agent")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build agent: %w", err)
		}
	}
	// Warm the page cache so that neither side pays for the disk.
	if f, err := os.Open(path); err == nil {
		_, _ = io.Copy(io.Discard, f)
		f.Close()
	}
	bins := []struct{ name, path string }{{"agent check", agent}}
	if o.baselineBin != "" {
		bins = append([]struct{ name, path string }{{"baseline", o.baselineBin}}, bins...)
	}
	fmt.Printf("logs: %.2f GiB send log, %d runs each, interleaved; load average before %s\n", float64(size)/(1<<30), o.runs, loadAvg())
	type series struct{ mbs, ratios, rss, cpus, perCPU, cpuRatios []float64 }
	res := make([]series, len(bins))
	var grepMBs, grepCPU []float64
	mb := float64(size) / 1e6
	for i := range o.runs {
		load := loadAvg()
		g, err := timed(ctx, "grep", "-F", "-c", loggen.FailureText, path)
		if err != nil {
			return fmt.Errorf("grep: %w", err)
		}
		gm, gc := mb/g.wall.Seconds(), mb/max(g.cpu.Seconds(), 1e-3)
		grepMBs, grepCPU = append(grepMBs, gm), append(grepCPU, gc)
		fmt.Printf("  run %d (load %s): grep %.0f MB/s (%s, %.0f MB/cpu-s)\n", i+1, load, gm, g.wall.Round(time.Millisecond), gc)
		for k, b := range bins {
			a, err := timed(ctx, b.path, "check", "--protocol-logs", dir, "--format", "json")
			if err != nil && !isExit(err, 2) {
				return fmt.Errorf("%s: %w\n%s", b.name, err, a.stderr)
			}
			if !bytes.Contains(a.stdout, []byte("LOG_TLS_NEGOTIATION_FAILED")) {
				return fmt.Errorf("%s found no LOG_TLS_NEGOTIATION_FAILED:\n%s%s", b.name, a.stdout, a.stderr)
			}
			am := mb / a.wall.Seconds()
			// Per CPU-second: on a shared machine the wall clock says how much
			// CPU the scheduler gave each process; this says what each does with it.
			ac := mb / max(a.cpu.Seconds(), 1e-3)
			r := &res[k]
			r.mbs, r.ratios = append(r.mbs, am), append(r.ratios, am/gm)
			r.rss, r.cpus = append(r.rss, float64(a.maxRSS)/(1<<20)), append(r.cpus, a.cpu.Seconds()/a.wall.Seconds())
			r.perCPU, r.cpuRatios = append(r.perCPU, ac), append(r.cpuRatios, ac/gc)
			fmt.Printf("    %s %.0f MB/s (%s, %.2f CPUs, %.0f MB/cpu-s, peak RSS %.0f MiB): %.2fx grep, %.2fx per CPU-second\n",
				b.name, am, a.wall.Round(time.Millisecond), a.cpu.Seconds()/a.wall.Seconds(), ac, float64(a.maxRSS)/(1<<20), am/gm, ac/gc)
		}
	}
	fmt.Printf("logs: grep -F -c %s MB/s, %s MB/cpu-s (min / median / max)\n", spreadOf(grepMBs).format("%.0f"), spreadOf(grepCPU).format("%.0f"))
	for k, b := range bins {
		r := res[k]
		fmt.Printf("logs: %s --protocol-logs %s MB/s, ratio %s x grep (min / median / max), peak RSS %s MiB, %s CPUs\n",
			b.name, spreadOf(r.mbs).format("%.0f"), spreadOf(r.ratios).format("%.2f"), spreadOf(r.rss).format("%.0f"), spreadOf(r.cpus).format("%.2f"))
		fmt.Printf("logs: %s per CPU-second %s MB/cpu-s, ratio %s x grep (min / median / max)\n",
			b.name, spreadOf(r.perCPU).format("%.0f"), spreadOf(r.cpuRatios).format("%.2f"))
		if b.path == agent {
			o.table.put(row{key: "logs", what: fmt.Sprintf("agent check --protocol-logs vs grep -F -c, %.2f GiB send log, end to end", float64(size)/(1<<30)), value: spreadOf(r.ratios), load: loadAvg()})
		}
	}
	return nil
}

type proc struct {
	wall, cpu      time.Duration
	maxRSS         int64
	stdout, stderr []byte
}

func timed(ctx context.Context, name string, args ...string) (proc, error) {
	return timedEnv(ctx, nil, name, args...)
}

// timedEnv is timed with variables added to the environment.
func timedEnv(ctx context.Context, env []string, name string, args ...string) (proc, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := proc{wall: time.Since(start), stdout: out.Bytes(), stderr: errb.Bytes()}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
		r.maxRSS = maxRSSOf(ps)
	}
	return r, err
}

func isExit(err error, code int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == code
}
