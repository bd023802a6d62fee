package correlate

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// scaleFleet builds a fleet with n open findings: agents of 20 checks in 10
// sites; per agent 10 probes failing to 50 remote endpoints (remote-target
// incidents), and 10 store findings: a keyless certificate with a linked
// symptom (server incidents) and CERT_EXPIRING of shared identities
// (fleet-horizon incidents).
func scaleFleet(n int) *simFleet {
	fl := newFleet()
	agents := n / 20
	for a := range agents {
		id := fmt.Sprintf("agent%05d", a)
		site := fmt.Sprintf("site%02d", a%10)
		fl.agent(id, site, id+".contoso.com")
		for c := range 10 {
			ep := fmt.Sprintf("mx%02d.partner.example:25", (a+c)%50)
			fl.probe(id, ep, endpointFinding(finding.TLSHandshakeFailed, ep, errS))
		}
		host := id + ".contoso.com"
		tp := fmt.Sprintf("%040X", a)
		root := storeCertFinding(finding.CertNoPrivateKey, crit, tp, "CN="+host, "CN=Contoso CA", host, t0.Add(200*24*time.Hour))
		sym := flowFinding(finding.QueueTLSFailure, "Outbound", "tenant.mail.protection.outlook.com")
		root.Explains = []*mxv1.FindingRef{{Code: sym.Code, Subject: sym.Subject}}
		sym.ExplainedBy = []*mxv1.FindingRef{{Code: root.Code, Subject: root.Subject}}
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: "store", Findings: []*mxv1.Finding{root}})
		fl.report(id, &mxv1.CheckResult{Check: "queue", Target: "queues", Findings: []*mxv1.Finding{sym}})
		for c := range 8 {
			f := storeCertFinding(finding.CertExpiring, warn, fmt.Sprintf("%038X%02d", a, c), fmt.Sprintf("CN=svc%d.contoso.com", c), "CN=Contoso CA", host, t0.Add(20*24*time.Hour))
			fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: fmt.Sprintf("store%d", c), Findings: []*mxv1.Finding{f}})
		}
	}
	return fl
}

// BenchmarkRound measures one steady-state correlation round (incidents
// already stored, one agent's result newly committed) at 10k and 100k open
// findings.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("findings=%d", n), func(b *testing.B) {
			fl := scaleFleet(n)
			stored := map[string]*mxv1.Incident{}
			fl.run(b, immediate, stored)
			fl.now = fl.now.Add(30 * time.Second)
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

// churn changes share of the fleet's results, as newly committed batches:
// of every hundred results one is re-committed with its findings at
// another severity, removed, or added back clean (the shapes of
// scaleFleet), so a round sees adds, removals and severity changes.
func churn(fl *simFleet, keys [][3]string, rng *rand.Rand, share float64) {
	for range int(float64(len(keys)) * share) {
		k := keys[rng.IntN(len(keys))]
		r := fl.results[k]
		switch {
		case r == nil:
			fl.report(k[0], &mxv1.CheckResult{Check: k[1], Target: k[2]})
		case rng.IntN(3) == 0:
			delete(fl.results, k)
		default:
			cr := proto.CloneOf(r.GetResult())
			for _, f := range cr.GetFindings() {
				f.Severity = []mxv1.Severity{warn, errS, crit}[rng.IntN(3)]
			}
			fl.report(k[0], cr)
		}
	}
}

// BenchmarkRoundChurn measures steady-state rounds at 100k open findings
// with 1% of the results changed before each round; the round's output is
// applied like the FSM does, so incidents follow the churn. engine=full is
// Correlate (everything recomputed), engine=incremental an Engine that ran
// the first round before the timer started. cpu-ms/op is the process's CPU
// time during the rounds (garbage collection included), which a loaded
// machine changes less than the wall time of ns/op.
//
//	go test -run '^$' -bench RoundChurn -benchtime 8x -benchmem ./internal/controller/correlate
func BenchmarkRoundChurn(b *testing.B) {
	for _, mode := range []string{"full", "incremental"} {
		b.Run("engine="+mode, func(b *testing.B) {
			const n = 100_000
			fl := scaleFleet(n)
			stored := map[string]*mxv1.Incident{}
			fl.run(b, immediate, stored)
			keys := slices.SortedFunc(maps.Keys(fl.results), func(x, y [3]string) int {
				return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]), cmp.Compare(x[2], y[2]))
			})
			rng := rand.New(rand.NewPCG(1, 1))
			round := func(in Input) Output { return Correlate(in, immediate) }
			if mode == "incremental" {
				e := NewEngine(immediate)
				round = e.Round
				var incs []*mxv1.Incident
				for _, k := range sortedKeys(stored) {
					incs = append(incs, stored[k])
				}
				e.Round(fl.input(incs))
			}
			b.ReportMetric(float64(len(stored)), "incidents")
			var cpu time.Duration
			rounds := 0
			b.ResetTimer()
			for b.Loop() {
				rounds++
				b.StopTimer()
				fl.now = fl.now.Add(time.Second)
				churn(fl, keys, rng, 0.01)
				var incs []*mxv1.Incident
				for _, k := range sortedKeys(stored) {
					incs = append(incs, stored[k])
				}
				in := fl.input(incs)
				b.StartTimer()
				c0 := processCPU()
				out := round(in)
				cpu += processCPU() - c0
				b.StopTimer()
				for _, u := range out.Upserts {
					stored[u.GetId()] = u
				}
				for _, d := range out.Deletes {
					delete(stored, d.GetId())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(rounds), "cpu-ms/op")
		})
	}
}
