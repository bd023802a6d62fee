// Command mxbench measures a three-node controller cluster (issue 4):
// committed results per second with many streaming agents, ack latency at a
// fixed rate, and controller memory per idle agent stream. It builds the
// controller binary, starts the cluster on loopback with raft data on disk
// (fsync on), and simulates agents over real gRPC.
//
//	go run ./cmd/mxbench [-agents 1000] [-results 20] [-duration 20s] [-rate 10000] [-idle 1000]
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
	"time"

	"github.com/mxprobe/mxprobe/internal/bench"
)

func main() {
	agents := flag.Int("agents", 1000, "simulated agents streaming")
	results := flag.Int("results", 20, "check results per batch (one agent round)")
	duration := flag.Duration("duration", 20*time.Second, "length of each measurement")
	rate := flag.Int("rate", 10000, "results per second for the latency measurement")
	idle := flag.Int("idle", 1000, "idle agent streams for the memory measurement")
	conns := flag.Int("conns", 50, "gRPC connections the simulated agents share for throughput/latency")
	verbose := flag.Bool("v", false, "show controller logs")
	bogus := flag.Int("bogus", 2000, "hostile connections held open during a second latency measurement (0: skip)")
	flag.Parse()
	if err := run(*agents, *results, *duration, *rate, *idle, *conns, *bogus, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mxbench:", err)
		os.Exit(1)
	}
}

func run(agents, results int, d time.Duration, rate, idle, conns, bogus int, verbose bool) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "mxbench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "controller")
	build := exec.Command("go", "build", "-o", bin, "github.com/mxprobe/mxprobe/cmd/controller")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build controller: %w", err)
	}
	var logs io.Writer = io.Discard
	if verbose {
		logs = os.Stderr
	}
	c, err := bench.StartCluster(ctx, bin, 3, logs)
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
	fmt.Printf("mxbench: 3 controller processes on loopback, raft on disk (fsync on), %d CPUs, leader c%d\n", runtime.NumCPU(), l+1)

	// Memory per idle stream, on the leader.
	time.Sleep(time.Second)
	before, err := c.RSS(l)
	if err != nil {
		return err
	}
	goBefore, err := c.GoMemory(l)
	if err != nil {
		return err
	}
	idleFleet, err := bench.Connect(ctx, c.GRPC[l], idle, idle, "idle")
	if err != nil {
		return fmt.Errorf("idle streams: %w", err)
	}
	time.Sleep(2 * time.Second)
	after, err := c.RSS(l)
	if err != nil {
		return err
	}
	goAfter, err := c.GoMemory(l)
	if err != nil {
		return err
	}
	fmt.Printf("idle streams: %d connected (own TCP connection each): leader RSS %.1f -> %.1f MiB = %.1f KiB per stream; Go heap+stacks in use %.1f -> %.1f MiB = %.1f KiB per stream\n",
		idle, float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(idle)/1024,
		float64(goBefore)/(1<<20), float64(goAfter)/(1<<20), float64(goAfter-goBefore)/float64(idle)/1024)
	idleFleet.Close()

	fleet, err := bench.Connect(ctx, c.GRPC[l], agents, conns, "agent")
	if err != nil {
		return fmt.Errorf("agent streams: %w", err)
	}
	defer fleet.Close()
	tput, err := fleet.Throughput(ctx, d, results)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	fmt.Printf("throughput: %d agents streaming %d-result batches back to back for %s: %.0f committed results/s (%.0f batches/s)\n",
		agents, results, d, tput, tput/float64(results))

	p50, p99, max, achieved, err := fleet.Latency(ctx, d, rate, results)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Printf("ack latency at %d results/s offered (%.0f achieved, %d agents): p50 %s, p99 %s, max %s\n",
		rate, achieved, agents, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), max.Round(10*time.Microsecond))
	if bogus > 0 {
		opened, stop := bench.Bogus(ctx, c.GRPC[l], bogus)
		p50, p99, max, achieved, err := fleet.Latency(ctx, d, rate, results)
		stop()
		if err != nil {
			return fmt.Errorf("latency under bogus connections: %w", err)
		}
		fmt.Printf("with %d hostile connections held open (silent, garbage, stalled HTTP/2): ack latency at %d results/s (%.0f achieved): p50 %s, p99 %s, max %s\n",
			opened, rate, achieved, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), max.Round(10*time.Microsecond))
	}
	return nil
}
