// Command mxbench measures mxprobe at fleet scale. Each -mode prints its
// figures with the machine's load average (the benchmark machine is shared):
//
//   - cluster (default): a three-node controller cluster: committed results
//     per second with many streaming agents, ack latency at a fixed rate,
//     and controller memory per idle agent stream. It builds the controller
//     binary, starts the cluster on loopback with raft data on disk (fsync
//     on), and simulates agents over real gRPC. Throughput and latency are
//     measured -runs times on the same cluster, each run with the CPU the
//     leader, the followers and the simulated agents spent per 1,000
//     committed results (a figure the machine's other load hardly moves),
//     and summarised as min / median / max. By default the cluster runs
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
//   - incident: failure -> incident visible via API on the cluster mode's
//     cluster with its fleet streaming at -rate (incident.go); the cluster
//     mode runs it after each of its runs too (-incident-samples 0: not).
//
//   - correlate: the leader's correlation round at 10k and 100k open
//     findings with 1% changed, on a one-node store in process holding a
//     generated fleet (correlate.go): CPU and wall time per round.
//
//   - all: every mode in turn, then one table with every row of issue 20's
//     table and its goal (summary.go).
//
//     go run ./cmd/mxbench [-mode cluster|logs|state|incident|all] [-runs 3] [-agents 1000] [-results 20] [-certs 0] [-duration 20s] [-depth 4] [-rate 10000] [-idle 1000] [-incident-samples 30] [-insecure] [-profile DIR]
//     go run ./cmd/mxbench -mode logs [-log-size 1073741824] [-log-dir DIR] [-runs 3] [-agent-bin PATH] [-baseline-bin PATH]
//     go run ./cmd/mxbench -mode state [-state-agents N] [-runs 3]
//     go run ./cmd/mxbench -mode correlate [-corr-findings N] [-runs 3]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
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
	logSize     int64
	logDir      string
	runs        int
	agentBin    string
	baselineBin string
	// state mode
	stateAgents int
	// correlate mode: one fleet size instead of 10k and 100k findings
	corrFindings int
	// cluster and incident modes
	incidentSamples int
	controllerBin   string
	// table is -mode all's summary (nil otherwise, summary.go).
	table *table
}

func main() {
	reopenChild()
	var o options
	flag.StringVar(&o.mode, "mode", "cluster", "what to measure: cluster, logs, state, incident, correlate or all")
	flag.Int64Var(&o.logSize, "log-size", 1<<30, "logs: size of the generated send log")
	flag.StringVar(&o.logDir, "log-dir", "", "logs: keep the generated log in this directory (reused when big enough) instead of a temporary one")
	flag.IntVar(&o.runs, "runs", 3, "runs of each measurement (cluster: on the same cluster, one after the other; the summary gives min / median / max)")
	stateFlags(&o)
	flag.IntVar(&o.corrFindings, "corr-findings", 0, "correlate: measure at this many open findings only (default 10,000 and 100,000)")
	incidentFlags(&o)
	flag.StringVar(&o.agentBin, "agent-bin", "", "logs: measure this agent binary instead of building ./cmd/agent (e.g. an older build, for a before/after)")
	flag.StringVar(&o.baselineBin, "baseline-bin", "", "logs: also measure this agent binary in every run, next to the one under test (before and after in one run)")
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
	flag.StringVar(&o.profile, "profile", "", "save the leader's heap and goroutine profiles with the idle streams connected, CPU profiles of the leader, a follower and the simulated agents (this process) and allocation profiles of the leader and the follower during the first throughput run to this directory")
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
	modes := map[string]func(context.Context, options, string) error{"cluster": runCluster, "logs": runLogs, "state": runState, "incident": runIncident, "correlate": runCorrelate}
	order := []string{"logs", "state", "correlate", "cluster"}
	if o.mode == "all" {
		o.table = newTable()
		defer o.table.print(os.Stdout)
	} else {
		if modes[o.mode] == nil {
			return fmt.Errorf("unknown -mode %q (want %s or all)", o.mode, strings.Join(slices.Sorted(maps.Keys(modes)), ", "))
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

// startCluster builds the controller and starts the three-node cluster
// the cluster and incident modes measure; it returns the leader.
func startCluster(ctx context.Context, o options, tmp string) (*bench.Cluster, int, error) {
	bin := o.controllerBin
	if bin == "" {
		bin = filepath.Join(tmp, "controller")
		build := exec.Command("go", "build", "-o", bin, "github.com/mxprobe/mxprobe/cmd/controller")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, 0, fmt.Errorf("build controller: %w", err)
		}
	}
	var logs io.Writer = io.Discard
	if o.verbose {
		logs = os.Stderr
	}
	c, err := bench.StartCluster(ctx, bin, 3, logs, !o.insecure)
	if err != nil {
		return nil, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	l, err := c.Leader(wctx)
	cancel()
	if err != nil {
		c.Stop()
		return nil, 0, fmt.Errorf("no leader: %w", err)
	}
	mode := "mutual TLS, one connection and certificate per agent"
	if o.insecure {
		mode = fmt.Sprintf("--insecure, no TLS, streaming agents share %d connections", o.conns)
	}
	fmt.Printf("mxbench: 3 controller processes on loopback, raft on disk (fsync on), %s, %d CPUs, leader c%d\n", mode, runtime.NumCPU(), l+1)
	return c, l, nil
}

func runCluster(ctx context.Context, o options, tmp string) error {
	c, l, err := startCluster(ctx, o, tmp)
	if err != nil {
		return err
	}
	defer c.Stop()
	if err := idleMemory(ctx, c, l, o); err != nil {
		return err
	}

	listing := ""
	if o.certs > 0 {
		listing = fmt.Sprintf(" (one a store listing of %d certificates)", o.certs)
	}
	fmt.Printf("each run: %d agents streaming %d-result batches%s back to back, %d in flight each, for %s; then %d results/s offered for %s\n",
		o.agents, o.results, listing, o.depth, o.duration, o.rate, o.duration)
	runs := max(o.runs, 1)
	var all []clusterRun
	var incidents []incidentRun
	var failed []string
	var fleet *bench.Fleet
	defer func() {
		if fleet != nil {
			fleet.Close()
		}
	}()
	// incident measures failure -> incident after run i (incident.go),
	// also after a run that ended early (on a new fleet).
	incident := func(i int) error {
		if o.incidentSamples <= 0 {
			return nil
		}
		if fleet == nil {
			if fleet, l, err = connectFleet(ctx, c, o, fmt.Sprintf("agent%d", i)); err != nil {
				return err
			}
		}
		ir, err := incidentOnce(ctx, c, l, fleet, o, i)
		if err != nil {
			fmt.Printf("run %d/%d: failure -> incident ended early, not counted: %v (load %s)\n", i+1, runs, err, loadAvg())
			fleet.Close()
			fleet = nil
			return nil
		}
		printIncidentRun(i, runs, ir, o)
		incidents = append(incidents, ir)
		return nil
	}
	for i := range runs {
		if fleet == nil {
			// A fleet whose stream was cut is replaced; the new one has
			// agents of its own (nothing of the old one still in flight).
			if fleet, l, err = connectFleet(ctx, c, o, fmt.Sprintf("agent%d", i)); err != nil {
				return err
			}
		}
		r, err := clusterOnce(ctx, c, l, fleet, o, i == 0 && o.profile != "")
		if err != nil {
			// On a loaded machine a stream is sometimes cut mid-run (a
			// leader that misses its heartbeats steps down and closes its
			// streams): the run is reported as failed, not averaged.
			fmt.Printf("run %d/%d: ended early, not counted: %v (load %s)\n", i+1, runs, err, loadAvg())
			failed = append(failed, err.Error())
			fleet.Close()
			fleet = nil
			if err := incident(i); err != nil {
				return err
			}
			continue
		}
		fmt.Printf("run %d/%d: %.0f committed results/s (%.0f batches/s); CPU per 1,000 committed results: leader %.1f ms, followers %.1f ms, simulated agents %.1f ms; load %s\n",
			i+1, runs, r.tput, r.tput/float64(o.results), r.cpuLeader, r.cpuFollowers, r.cpuAgents, r.load)
		fmt.Printf("run %d/%d: ack latency at %d results/s offered (%.0f achieved): p50 %s, p99 %s, max %s\n",
			i+1, runs, o.rate, r.lat.achieved, ms(r.lat.p50), ms(r.lat.p99), ms(r.lat.max))
		if o.bogus > 0 {
			fmt.Printf("run %d/%d: with %d hostile connections held open (silent, garbage, stalled HTTP/2): ack latency at %d results/s (%.0f achieved): p50 %s, p99 %s, max %s\n",
				i+1, runs, r.bogusOpened, o.rate, r.bogus.achieved, ms(r.bogus.p50), ms(r.bogus.p99), ms(r.bogus.max))
		}
		all = append(all, r)
		if err := incident(i); err != nil {
			return err
		}
	}
	if len(all) == 0 {
		incidentSummary(incidents, o, o.table)
		return fmt.Errorf("no run completed: %s", strings.Join(failed, "; "))
	}
	pick := func(f func(clusterRun) float64) spread {
		xs := make([]float64, len(all))
		for i, r := range all {
			xs[i] = f(r)
		}
		return spreadOf(xs)
	}
	fmt.Printf("cluster, %d of %d runs completed (min / median / max), load average now %s:\n", len(all), runs, loadAvg())
	fmt.Printf("  committed results/s, 3 nodes, fsync on, %d agents, %s: %s\n", o.agents, modeShort(o), pick(func(r clusterRun) float64 { return r.tput }).format("%.0f"))
	fmt.Printf("  CPU per 1,000 committed results, ms: leader %s; followers %s; simulated agents %s\n",
		pick(func(r clusterRun) float64 { return r.cpuLeader }).format("%.1f"), pick(func(r clusterRun) float64 { return r.cpuFollowers }).format("%.1f"),
		pick(func(r clusterRun) float64 { return r.cpuAgents }).format("%.1f"))
	fmt.Printf("  ack latency at %d results/s, ms: p50 %s; p99 %s\n", o.rate,
		pick(func(r clusterRun) float64 { return msf(r.lat.p50) }).format("%.1f"), pick(func(r clusterRun) float64 { return msf(r.lat.p99) }).format("%.1f"))
	if o.bogus > 0 {
		fmt.Printf("  the same with %d hostile connections, ms: p50 %s; p99 %s\n", o.bogus,
			pick(func(r clusterRun) float64 { return msf(r.bogus.p50) }).format("%.1f"), pick(func(r clusterRun) float64 { return msf(r.bogus.p99) }).format("%.1f"))
	}
	incidentSummary(incidents, o, o.table)
	load := loadAvg()
	o.table.put(row{key: "tput", value: pick(func(r clusterRun) float64 { return r.tput }), load: load})
	o.table.put(row{key: "ack-p99", value: pick(func(r clusterRun) float64 { return msf(r.lat.p99) }), load: load})
	return nil
}

// connectFleet connects the measured agents to the current leader.
func connectFleet(ctx context.Context, c *bench.Cluster, o options, prefix string) (*bench.Fleet, int, error) {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	l, err := c.Leader(wctx)
	cancel()
	if err != nil {
		return nil, 0, fmt.Errorf("no leader: %w", err)
	}
	fleet, err := c.Connect(ctx, l, o.agents, o.conns, prefix)
	if err != nil {
		return nil, 0, fmt.Errorf("agent streams: %w", err)
	}
	fleet.Certs = o.certs
	return fleet, l, nil
}

func modeShort(o options) string {
	if o.insecure {
		return "--insecure"
	}
	return "mutual TLS"
}

func ms(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type latency struct {
	p50, p99, max time.Duration
	achieved      float64
}

// clusterRun is one run's figures. CPU is per 1,000 committed results of
// the throughput measurement: the leader's, both followers' together and
// this process's (the simulated agents); unlike results/s it hardly
// depends on what else the machine runs.
type clusterRun struct {
	tput                               float64
	cpuLeader, cpuFollowers, cpuAgents float64
	lat, bogus                         latency
	bogusOpened                        int
	load                               string
}

func clusterOnce(ctx context.Context, c *bench.Cluster, l int, fleet *bench.Fleet, o options, profile bool) (clusterRun, error) {
	var r clusterRun
	profDone := make(chan error, 4)
	if profile {
		// The leader's and one follower's CPU and allocations during the
		// throughput run.
		follower := (l + 1) % len(c.Procs)
		secs := fmt.Sprintf("seconds=%d", max(1, int(o.duration.Seconds())-2))
		for _, p := range []struct {
			node       int
			kind, file string
		}{{l, "profile", "cpu-throughput.pb.gz"}, {follower, "profile", "cpu-throughput-follower.pb.gz"},
			{l, "allocs", "allocs-throughput.pb.gz"}, {follower, "allocs", "allocs-throughput-follower.pb.gz"}} {
			go func() { profDone <- c.Profile(p.node, p.kind, secs, filepath.Join(o.profile, p.file)) }()
		}
	}
	before, err := cpuTimes(c)
	if err != nil {
		return r, err
	}
	stopProfile := func() error { return nil }
	if profile {
		// The simulated agents' own CPU (this process) during the run.
		if stopProfile, err = profileSelf(filepath.Join(o.profile, "cpu-throughput-agents.pb.gz")); err != nil {
			return r, err
		}
	}
	tput, err := fleet.Throughput(ctx, o.duration, o.results, o.depth)
	if perr := stopProfile(); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		return r, fmt.Errorf("throughput: %w", err)
	}
	after, err := cpuTimes(c)
	if err != nil {
		return r, err
	}
	r.tput, r.load = tput, loadAvg()
	if committed := tput * o.duration.Seconds() / 1000; committed > 0 {
		per := func(d time.Duration) float64 { return msf(d) / committed }
		for i := range c.Procs {
			if i == l {
				r.cpuLeader = per(after[i] - before[i])
			} else {
				r.cpuFollowers += per(after[i] - before[i])
			}
		}
		r.cpuAgents = per(after[len(after)-1] - before[len(before)-1])
	}
	if profile {
		if err := errors.Join(<-profDone, <-profDone, <-profDone, <-profDone); err != nil {
			return r, err
		}
	}
	r.lat.p50, r.lat.p99, r.lat.max, r.lat.achieved, err = fleet.Latency(ctx, o.duration, o.rate, o.results, o.depth)
	if err != nil {
		return r, fmt.Errorf("latency: %w", err)
	}
	if o.bogus > 0 {
		opened, stop := bench.Bogus(ctx, c.GRPC[l], o.bogus)
		r.bogusOpened = opened
		r.bogus.p50, r.bogus.p99, r.bogus.max, r.bogus.achieved, err = fleet.Latency(ctx, o.duration, o.rate, o.results, o.depth)
		stop()
		if err != nil {
			return r, fmt.Errorf("latency under bogus connections: %w", err)
		}
	}
	return r, nil
}

// profileSelf starts a CPU profile of this process into path; the
// returned func stops it and closes the file.
func profileSelf(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// cpuTimes is the CPU used so far by each controller process and, last,
// by this one (the simulated agents).
func cpuTimes(c *bench.Cluster) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(c.Procs)+1)
	for i := range c.Procs {
		d, err := c.CPU(i)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	self, err := selfCPU()
	if err != nil {
		return nil, err
	}
	return append(out, self), nil
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
