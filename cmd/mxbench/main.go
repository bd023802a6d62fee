// Command mxbench measures mxprobe at fleet scale. Each -mode prints its
// figures with the machine's load average (the benchmark machine is shared):
//
//   - cluster (default): a three-node controller cluster: committed results
//     per second with many streaming agents, ack latency at a fixed rate,
//     and controller memory per idle agent stream. It builds the controller
//     binary, starts the cluster on loopback with raft data on disk (fsync
//     on), and simulates agents over real gRPC. By default the cluster runs
//     the production path: mutual TLS, every agent with its own certificate
//     and connection, API over HTTPS with a token.
//
//   - logs: `agent check --protocol-logs` end to end on a generated 1 GiB
//     send log next to `grep -F -c "TLS negotiation failed"` on the same file.
//
//   - state: restore of a backup of 1k, 10k and 50k agents on one node with
//     raft on disk: snapshot size, persist time, and reopen time and peak
//     RSS of a restarted node (a fresh process).
//
//   - all: every mode in turn.
//
//     go run ./cmd/mxbench [-mode cluster|logs|state|all] [-agents 1000] [-results 20] [-certs 0] [-duration 20s] [-depth 4] [-rate 10000] [-idle 1000] [-insecure] [-profile DIR]
//     go run ./cmd/mxbench -mode logs [-log-size 1073741824] [-log-dir DIR] [-runs 3]
//     go run ./cmd/mxbench -mode state [-state-agents N] [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/bench"
)

type options struct {
	mode                                                    string
	agents, results, rate, idle, conns, bogus, certs, depth int
	duration                                                time.Duration
	verbose, insecure                                       bool
	profile                                                 string
	// logs mode
	logSize  int64
	logDir   string
	runs     int
	agentBin string
	// state mode
	stateAgents int
}

func main() {
	reopenChild()
	var o options
	flag.StringVar(&o.mode, "mode", "cluster", "what to measure: cluster, logs, state or all")
	flag.Int64Var(&o.logSize, "log-size", 1<<30, "logs: size of the generated send log")
	flag.StringVar(&o.logDir, "log-dir", "", "logs: keep the generated log in this directory (reused when big enough) instead of a temporary one")
	flag.IntVar(&o.runs, "runs", 3, "logs, state: runs of each measurement")
	stateFlags(&o)
	flag.StringVar(&o.agentBin, "agent-bin", "", "logs: measure this agent binary instead of building ./cmd/agent (e.g. an older build, for a before/after)")
	flag.IntVar(&o.agents, "agents", 1000, "simulated agents streaming")
	flag.IntVar(&o.depth, "depth", 4, "batches each simulated agent keeps in flight (unacknowledged) in the throughput and latency runs, as agents do (batches_in_flight, default 4); 1: send, wait for the ack, send the next")
	flag.IntVar(&o.results, "results", 20, "check results per batch (one agent round)")
	flag.IntVar(&o.certs, "certs", 0, "make each batch's first result a certificate store scan listing this many certificates (real rounds: ~10-50)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of each measurement")
	flag.IntVar(&o.rate, "rate", 10000, "results per second for the latency measurement")
	flag.IntVar(&o.idle, "idle", 1000, "idle agent streams for the memory measurement")
	flag.IntVar(&o.conns, "conns", 50, "with -insecure: gRPC connections the simulated agents share for throughput/latency")
	flag.BoolVar(&o.verbose, "v", false, "show controller logs")
	flag.BoolVar(&o.insecure, "insecure", false, "run the cluster with --insecure (no TLS, no tokens, agents may share connections) instead of the production path")
	flag.IntVar(&o.bogus, "bogus", 2000, "hostile connections held open during a second latency measurement (0: skip)")
	flag.StringVar(&o.profile, "profile", "", "save the leader's heap and goroutine profiles with the idle streams connected and a CPU profile of the throughput run to this directory")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mxbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "mxbench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	modes := map[string]func(context.Context, options, string) error{"cluster": runCluster, "logs": runLogs, "state": runState}
	order := []string{"logs", "state", "cluster"}
	if o.mode != "all" {
		if modes[o.mode] == nil {
			return fmt.Errorf("unknown -mode %q (want %s or all)", o.mode, strings.Join(order, ", "))
		}
		order = []string{o.mode}
	}
	for _, m := range order {
		if err := modes[m](ctx, o, tmp); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

func runCluster(ctx context.Context, o options, tmp string) error {
	bin := filepath.Join(tmp, "controller")
	build := exec.Command("go", "build", "-o", bin, "github.com/mxprobe/mxprobe/cmd/controller")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build controller: %w", err)
	}
	var logs io.Writer = io.Discard
	if o.verbose {
		logs = os.Stderr
	}
	c, err := bench.StartCluster(ctx, bin, 3, logs, !o.insecure)
	if err != nil {
		return err
	}
	defer c.Stop()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	l, err := c.Leader(wctx)
	cancel()
	if err != nil {
		return fmt.Errorf("no leader: %w", err)
	}
	mode := "mutual TLS, one connection and certificate per agent"
	if o.insecure {
		mode = fmt.Sprintf("--insecure, no TLS, streaming agents share %d connections", o.conns)
	}
	fmt.Printf("mxbench: 3 controller processes on loopback, raft on disk (fsync on), %s, %d CPUs, leader c%d\n", mode, runtime.NumCPU(), l+1)
	if err := idleMemory(ctx, c, l, o); err != nil {
		return err
	}

	fleet, err := c.Connect(ctx, l, o.agents, o.conns, "agent")
	if err != nil {
		return fmt.Errorf("agent streams: %w", err)
	}
	defer fleet.Close()
	fleet.Certs = o.certs
	profDone := make(chan error, 1)
	if o.profile != "" {
		go func() {
			profDone <- c.Profile(l, "profile", fmt.Sprintf("seconds=%d", max(1, int(o.duration.Seconds())-2)), filepath.Join(o.profile, "cpu-throughput.pb.gz"))
		}()
	}
	tput, err := fleet.Throughput(ctx, o.duration, o.results, o.depth)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	listing := ""
	if o.certs > 0 {
		listing = fmt.Sprintf(" (one a store listing of %d certificates)", o.certs)
	}
	fmt.Printf("throughput: %d agents streaming %d-result batches%s back to back, %d in flight each, for %s: %.0f committed results/s (%.0f batches/s)\n",
		o.agents, o.results, listing, o.depth, o.duration, tput, tput/float64(o.results))
	if o.profile != "" {
		if err := <-profDone; err != nil {
			return err
		}
	}

	p50, p99, maxLat, achieved, err := fleet.Latency(ctx, o.duration, o.rate, o.results, o.depth)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Printf("ack latency at %d results/s offered (%.0f achieved, %d agents, up to %d in flight each): p50 %s, p99 %s, max %s\n",
		o.rate, achieved, o.agents, o.depth, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), maxLat.Round(10*time.Microsecond))
	if o.bogus > 0 {
		opened, stop := bench.Bogus(ctx, c.GRPC[l], o.bogus)
		p50, p99, maxLat, achieved, err := fleet.Latency(ctx, o.duration, o.rate, o.results, o.depth)
		stop()
		if err != nil {
			return fmt.Errorf("latency under bogus connections: %w", err)
		}
		fmt.Printf("with %d hostile connections held open (silent, garbage, stalled HTTP/2): ack latency at %d results/s (%.0f achieved): p50 %s, p99 %s, max %s\n",
			opened, o.rate, achieved, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), maxLat.Round(10*time.Microsecond))
	}
	return nil
}

// idleMemory connects o.idle streams that send nothing after Hello and
// reports the leader's memory growth per stream: RSS as the process holds it
// (live data plus the garbage collector's headroom), then, after a forced
// collection, the live heap and goroutine stacks, the floor RSS tends to
// with less headroom.
func idleMemory(ctx context.Context, c *bench.Cluster, l int, o options) error {
	time.Sleep(time.Second)
	before, err := c.Memory(l, true)
	if err != nil {
		return err
	}
	idleFleet, err := c.Connect(ctx, l, o.idle, o.idle, "idle")
	if err != nil {
		return fmt.Errorf("idle streams: %w", err)
	}
	defer idleFleet.Close()
	time.Sleep(2 * time.Second)
	after, err := c.Memory(l, false)
	if err != nil {
		return err
	}
	live, err := c.Memory(l, true)
	if err != nil {
		return err
	}
	per := func(a, b int64) float64 { return float64(b-a) / float64(o.idle) / 1024 }
	fmt.Printf("idle streams: %d connected (own TCP connection each): leader RSS %.1f -> %.1f MiB = %.1f KiB per stream\n",
		o.idle, float64(before.RSS)/(1<<20), float64(after.RSS)/(1<<20), per(before.RSS, after.RSS))
	fmt.Printf("  after a forced GC, per stream: live heap %.1f KiB + goroutine stacks %.1f KiB (%.1f goroutines) = %.1f KiB; RSS then %.1f KiB\n",
		per(before.HeapAlloc, live.HeapAlloc), per(before.Stack, live.Stack), float64(live.Goroutines-before.Goroutines)/float64(o.idle),
		per(before.HeapAlloc+before.Stack, live.HeapAlloc+live.Stack), per(before.RSS, live.RSS))
	if o.profile == "" {
		return nil
	}
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	if err := c.Profile(l, "heap", "gc=1", filepath.Join(o.profile, "heap-idle.pb.gz")); err != nil {
		return err
	}
	return c.Profile(l, "goroutine", "debug=1", filepath.Join(o.profile, "goroutine-idle.txt"))
}
