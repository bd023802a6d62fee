package correlate

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate/fleetsim"
)

// scaleFleet builds a fleet with n open findings (fleetsim.Scale).
func scaleFleet(n int) *simFleet { return &simFleet{Fleet: fleetsim.Scale(n, t0)} }

// BenchmarkRound measures one steady-state correlation round (incidents
// already stored, one agent's result newly committed) at 10k and 100k open
// findings.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("findings=%d", n), func(b *testing.B) {
			fl := scaleFleet(n)
			stored := map[string]*mxv1.Incident{}
			fl.run(b, immediate, stored)
			fl.Now = fl.Now.Add(30 * time.Second)
			keylessOn(fl, "agent00000")
			var incs []*mxv1.Incident
			for _, k := range sortedKeys(stored) {
				incs = append(incs, stored[k])
			}
			in := fl.input(incs)
			b.ReportMetric(float64(len(incs)), "incidents")
			b.ResetTimer()
			for b.Loop() {
				Correlate(in, immediate)
			}
		})
	}
}

// BenchmarkRoundChurn measures steady-state rounds at 100k open findings
// with 1% of the results changed before each round (fleetsim.Churn: of
// every hundred results one is re-committed with its findings at another
// severity, removed, or added back clean); the round's output is applied
// like the FSM does, so incidents follow the churn. engine=full is
// Correlate (everything recomputed); engine=incremental an Engine that ran
// the first round before the timer started, handed the whole input each
// round (Round compares it with the previous one); engine=changes the
// same engine handed only what changed (RoundChanges, as the leader's
// loop reads store.CorrelationChanges). cpu-ms/op is the process's CPU
// time during the rounds (garbage collection included), which a loaded
// machine changes less than the wall time of ns/op; input-cpu-ms/op is
// the CPU spent making the round's input (every agent, result and
// incident for full and incremental, what changed for changes), which the
// leader spends too (outside the timer).
//
//	go test -run '^$' -bench RoundChurn -benchtime 8x -benchmem ./internal/controller/correlate
func BenchmarkRoundChurn(b *testing.B) {
	for _, mode := range []string{"full", "incremental", "changes"} {
		b.Run("engine="+mode, func(b *testing.B) {
			benchRounds(b, mode, func(fl *simFleet, keys []fleetsim.Key, rng *rand.Rand) []fleetsim.Key {
				return fl.Churn(keys, rng, 0.01, true)
			})
		})
	}
}

// BenchmarkRoundResend measures steady-state rounds at 100k open
// findings as a steady fleet sends its results: agents report every
// minute and the leader's loop runs every 250 ms, so before each round
// 1/240 of the agents (21 of 5,000) re-send their round, every result
// committed again, with the same findings but for changed=0.01 (or 0.1)
// of them at another severity, clean, or with findings again
// (fleetsim.ResendRounds). Otherwise as BenchmarkRoundChurn.
//
//	go test -run '^$' -bench RoundResend -benchtime 40x ./internal/controller/correlate
func BenchmarkRoundResend(b *testing.B) {
	for _, changed := range []float64{0.01, 0.1} {
		for _, mode := range []string{"incremental", "changes"} {
			b.Run(fmt.Sprintf("changed=%g/engine=%s", changed, mode), func(b *testing.B) {
				benchRounds(b, mode, func(fl *simFleet, _ []fleetsim.Key, rng *rand.Rand) []fleetsim.Key {
					return fl.ResendRounds(rng, 1.0/240, changed)
				})
			})
		}
	}
}

// benchRounds runs the rounds of BenchmarkRoundChurn with the changes
// step makes before each.
func benchRounds(b *testing.B, mode string, step func(fl *simFleet, keys []fleetsim.Key, rng *rand.Rand) []fleetsim.Key) {
	const n = 100_000
	fl := scaleFleet(n)
	stored := map[string]*mxv1.Incident{}
	fl.run(b, immediate, stored)
	keys := fl.Keys()
	rng := rand.New(rand.NewPCG(1, 1))
	e := NewEngine(immediate)
	if mode != "full" {
		var incs []*mxv1.Incident
		for _, k := range sortedKeys(stored) {
			incs = append(incs, stored[k])
		}
		e.Round(fl.input(incs))
	}
	b.ReportMetric(float64(len(stored)), "incidents")
	var cpu, inputCPU time.Duration
	rounds, upserts := 0, 0
	var incChanged []string
	b.ResetTimer()
	for b.Loop() {
		rounds++
		b.StopTimer()
		fl.Now = fl.Now.Add(time.Second)
		changed := step(fl, keys, rng)
		c0 := processCPU()
		var in Input
		var ch Changes
		if mode == "changes" {
			ch = changesOf(fl, stored, changed, incChanged)
		} else {
			in = fl.input(slices.Collect(maps.Values(stored)))
		}
		inputCPU += processCPU() - c0
		b.StartTimer()
		c0 = processCPU()
		var out Output
		switch mode {
		case "full":
			out = Correlate(in, immediate)
		case "incremental":
			out = e.Round(in)
		default:
			var err error
			if out, err = e.RoundChanges(ch); err != nil {
				b.Fatal(err)
			}
		}
		cpu += processCPU() - c0
		b.StopTimer()
		incChanged = incChanged[:0]
		upserts += len(out.Upserts)
		for _, u := range out.Upserts {
			stored[u.GetId()] = u
			incChanged = append(incChanged, u.GetId())
		}
		for _, d := range out.Deletes {
			delete(stored, d.GetId())
			incChanged = append(incChanged, d.GetId())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(rounds), "cpu-ms/op")
	b.ReportMetric(float64(inputCPU.Microseconds())/1000/float64(rounds), "input-cpu-ms/op")
	b.ReportMetric(float64(upserts)/float64(rounds), "upserts/op")
}

// changesOf is what changed in fl and stored: the results of keys, their
// agents, and the incidents of ids.
func changesOf(fl *simFleet, stored map[string]*mxv1.Incident, keys []fleetsim.Key, ids []string) Changes {
	c := Changes{Now: fl.Now}
	agents := map[string]bool{}
	for _, k := range keys {
		if r := fl.Results[k]; r != nil {
			c.Results = append(c.Results, r)
		} else {
			c.RemovedResults = append(c.RemovedResults, ResultRef{k.Agent, k.Check, k.Target})
		}
		if a := fl.Agents[k.Agent]; a != nil && !agents[k.Agent] {
			agents[k.Agent] = true
			c.Agents = append(c.Agents, a)
		}
	}
	for _, id := range ids {
		if inc := stored[id]; inc != nil {
			c.Incidents = append(c.Incidents, inc)
		} else {
			c.RemovedIncidents = append(c.RemovedIncidents, id)
		}
	}
	return c
}
