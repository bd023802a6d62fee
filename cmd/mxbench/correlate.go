package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/correlate/fleetsim"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// corrRounds is how many rounds one run of -mode correlate measures.
const corrRounds = 8

// runCorrelate measures the leader's correlation round at 10k and 100k
// open findings with 1% of the results changed before each round: the
// real loop (correlate.Loop.Round: the store's changes read, the Engine's
// incremental round, its changes proposed and committed) on a one-node
// store in this process (raft in memory), holding a generated fleet
// (fleetsim.Scale, restored as a backup). Before each round 1% of the
// agents send a round (every result of theirs, each changed: findings at
// another severity, clean, or back), committed through raft outside the
// measurement. Each run is corrRounds rounds; it prints the CPU this
// process spent per round (garbage collection and the commit included),
// the wall time per round and the part of it before the round's proposal
// (reading the changes and the engine's round: RoundStats.Compute), min /
// median / max over -runs. The runs follow each other on the same fleet,
// after a first run of corrRounds rounds that is printed on its own: the
// churn's first rounds move whole classes of agents out of remote-target
// incidents (clean probes appear in their sites) and cost more than the
// rounds after.
func runCorrelate(ctx context.Context, o options, tmp string) error {
	fmt.Printf("correlate: one-node store in process (raft in memory), the leader's loop round (read changes, incremental round, commit); %d rounds per run, %d runs; load average before %s\n",
		corrRounds, o.runs, loadAvg())
	sizes := []int{10_000, 100_000}
	if o.corrFindings > 0 {
		sizes = []int{o.corrFindings}
	}
	for _, n := range sizes {
		fig, err := correlateAt(ctx, n, max(o.runs, 1), tmp, o.profile)
		if err != nil {
			return fmt.Errorf("%d findings: %w", n, err)
		}
		load := loadAvg()
		cpu := fig.cpu
		fmt.Printf("correlate: %6d open findings, 1%% changed: round CPU %s ms, wall %s ms, of which before its proposal (wall) %s ms; raft entry %s MB, allocated %s MB per round (min / median / max; %d incidents stored; load %s)\n",
			n, spreadOf(cpu).format("%.1f"), spreadOf(fig.wall).format("%.1f"), spreadOf(fig.compute).format("%.1f"), spreadOf(fig.entryMB).format("%.2f"),
			spreadOf(fig.allocMB).format("%.1f"), fig.incidents, load)
		// At GOGC=100 a cycle starts when the heap has grown by what
		// the last one found live: every live/(allocated per round and
		// commit) rounds, each paying its share of a cycle's CPU.
		perRound := spreadOf(fig.allocMB).med + spreadOf(fig.ingestMB).med
		every := fig.liveMB / perRound
		fmt.Printf("correlate: %6d open findings: garbage collection: one cycle over the %.0f MB live heap took %.0f ms CPU (runtime.GC after the churn's first rounds, before the measured runs; %d cycles ended during them); at %.1f MB allocated per round with its commit (%s MB outside the round) one comes every ~%.0f rounds, ~%.1f ms CPU per round amortized, which a run counts only if a cycle lands in it\n",
			n, fig.liveMB, fig.cycleMS, fig.gcAll, perRound, spreadOf(fig.ingestMB).format("%.1f"), every, fig.cycleMS/every)
		key, ok := map[int]string{10_000: "corr-10k", 100_000: "corr-100k"}[n]
		if !ok {
			key = fmt.Sprintf("corr-%d", n)
		}
		o.table.put(row{key: key, what: fmt.Sprintf("correlation round, %d findings, 1%% changed (CPU)", n), unit: "ms", format: "%.0f", value: spreadOf(cpu), load: load})
	}
	return nil
}

// corrFigures are correlateAt's figures, per run the mean per round: CPU
// and wall milliseconds, wall before the proposal, megabytes of the raft
// entry and megabytes allocated (by the whole process during the round);
// and the incidents stored at the end. Garbage collection: gcAll, the
// cycles that ended during the measured runs (commits included; at
// 100,000 findings one cycle marks about a gigabyte for 1-2 s of wall
// time, so a run it overlaps spends its CPU in the rounds); liveMB, the
// heap the last cycle marked live; ingestMB, the megabytes allocated per
// round outside it (the changed results made and committed); cycleMS,
// the CPU milliseconds of the cycle run after the churn's first rounds
// (runtime.GC), before the measured runs.
type corrFigures struct {
	cpu, wall, compute, entryMB, allocMB []float64
	ingestMB                             []float64
	incidents, gcAll                     int
	liveMB, cycleMS                      float64
}

// correlateAt runs the measurement at n findings.
func correlateAt(ctx context.Context, n, runs int, tmp, profile string) (fig corrFigures, err error) {
	fl := fleetsim.Scale(n, time.Now())
	dir, err := os.MkdirTemp(tmp, "correlate-")
	if err != nil {
		return fig, err
	}
	defer os.RemoveAll(dir)
	st, err := corrStore(ctx, dir)
	if err != nil {
		return fig, err
	}
	defer st.Close()
	snap := &mxv1.StateSnapshot{}
	for _, id := range slices.Sorted(maps.Keys(fl.Agents)) {
		snap.Agents = append(snap.Agents, fl.Agents[id])
	}
	for _, k := range fl.Keys() {
		snap.Results = append(snap.Results, fl.Results[k])
	}
	backup, err := proto.Marshal(snap)
	if err != nil {
		return fig, err
	}
	if err := st.Restore(ctx, backup); err != nil {
		return fig, fmt.Errorf("restore the fleet: %w", err)
	}
	loop := correlate.NewLoop(st, correlate.LoopConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// The first round computes everything; the next ones settle (damping
	// opens what the first one found pending).
	for range 4 {
		if _, err := loop.Round(ctx); err != nil {
			return fig, err
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	seqs := map[string]uint64{}
	for run := range runs + 1 {
		if run == 1 && profile != "" {
			// -profile: a CPU profile of the measured runs' rounds (and
			// the commits of their changed results), not the churn's
			// first rounds.
			f, err := os.Create(filepath.Join(profile, fmt.Sprintf("correlate-%d.cpu.pprof", n)))
			if err != nil {
				return fig, err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fig, err
			}
			defer pprof.StopCPUProfile()
		}
		var c, w, cw time.Duration
		var entry, alloc, ingest uint64
		upserts := 0
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gc0 := ms.NumGC
		for range corrRounds {
			var mi runtime.MemStats
			runtime.ReadMemStats(&mi)
			fl.Now = time.Now()
			var batches []*mxv1.AgentBatch
			for _, rd := range fl.ChurnRounds(rng, 0.01) {
				seqs[rd.Agent]++
				batches = append(batches, &mxv1.AgentBatch{AgentId: rd.Agent, Batch: &mxv1.ResultBatch{Seq: seqs[rd.Agent], Results: rd.Results}})
			}
			if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: batches}}}); err != nil {
				return fig, fmt.Errorf("commit the changed rounds: %w", err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			ingest += m0.TotalAlloc - mi.TotalAlloc
			c0, err := selfCPU()
			if err != nil {
				return fig, err
			}
			start := time.Now()
			rs, err := loop.Round(ctx)
			if err != nil {
				return fig, err
			}
			w += time.Since(start)
			cw += rs.Compute
			c1, err := selfCPU()
			if err != nil {
				return fig, err
			}
			runtime.ReadMemStats(&m1)
			c += c1 - c0
			entry += uint64(rs.EntryBytes)
			upserts += rs.Upserts + rs.Deletes
			alloc += m1.TotalAlloc - m0.TotalAlloc
		}
		if run == 0 {
			// The churn's first rounds move whole classes of agents
			// (clean probes appear in their sites): printed, not counted.
			fmt.Printf("correlate: %6d open findings: the churn's first %d rounds: round CPU %.1f ms, wall %.1f ms (load %s)\n",
				n, corrRounds, float64(c.Microseconds())/1000/corrRounds, float64(w.Microseconds())/1000/corrRounds, loadAvg())
			// The restore and the churn's first rounds allocated
			// hundreds of megabytes: their garbage collection is paid
			// here, outside the measured runs, and its CPU is the cost
			// of one cycle over this heap (printed with what the steady
			// rounds' allocation makes of it).
			g0, err := selfCPU()
			if err != nil {
				return fig, err
			}
			runtime.GC()
			g1, err := selfCPU()
			if err != nil {
				return fig, err
			}
			fig.cycleMS = float64((g1 - g0).Microseconds()) / 1000
			continue
		}
		fig.cpu = append(fig.cpu, float64(c.Microseconds())/1000/corrRounds)
		fig.wall = append(fig.wall, float64(w.Microseconds())/1000/corrRounds)
		fig.compute = append(fig.compute, float64(cw.Microseconds())/1000/corrRounds)
		fig.entryMB = append(fig.entryMB, float64(entry)/1e6/corrRounds)
		fig.allocMB = append(fig.allocMB, float64(alloc)/1e6/corrRounds)
		fig.ingestMB = append(fig.ingestMB, float64(ingest)/1e6/corrRounds)
		runtime.ReadMemStats(&ms)
		cycles := ms.NumGC - gc0
		fig.gcAll += int(cycles)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			fig.liveMB = float64(live[0].Value.Uint64()) / 1e6
		}
		fmt.Printf("correlate: %6d open findings: run %d: round CPU %.1f ms, allocated %.1f MB, %.0f incidents upserted or deleted per round; %d garbage collection cycles ended during the run\n",
			n, run, fig.cpu[len(fig.cpu)-1], fig.allocMB[len(fig.allocMB)-1], float64(upserts)/corrRounds, cycles)
	}
	fig.incidents = len(st.State().CorrelationView().Incidents)
	if profile != "" {
		// -profile: the heap live at the end (what garbage collection
		// marks each cycle).
		runtime.GC()
		f, err := os.Create(filepath.Join(profile, fmt.Sprintf("correlate-%d.heap.pprof", n)))
		if err != nil {
			return fig, err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return fig, err
		}
	}
	return fig, nil
}

// corrStore opens a one-node store that leads, raft in memory.
func corrStore(ctx context.Context, dir string) (*store.Store, error) {
	_, tr := raft.NewInmemTransport("127.0.0.1:1") // a label: nothing listens
	st, err := store.Open(store.Config{NodeID: "n1", DataDir: dir, RaftBind: string(tr.LocalAddr()), Transport: tr, InmemStore: true, Bootstrap: true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.WaitLeader(wctx); err != nil {
		st.Close()
		return nil, err
	}
	for !st.LeaderReady() {
		if wctx.Err() != nil {
			st.Close()
			return nil, fmt.Errorf("the store leads but never became ready: %w", wctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st, nil
}
