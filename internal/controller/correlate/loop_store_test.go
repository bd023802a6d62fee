package correlate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate/fleetsim"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
)

// proposalTap records what the loop proposes.
type proposalTap struct {
	*store.Store
	mu   sync.Mutex
	last *mxv1.CorrelateIncidents
}

func (p *proposalTap) ProposeIncidents(ctx context.Context, c *mxv1.CorrelateIncidents) (store.CorrelateResult, error) {
	p.mu.Lock()
	p.last = c
	p.mu.Unlock()
	return p.Store.ProposeIncidents(ctx, c)
}

func (p *proposalTap) take() *mxv1.CorrelateIncidents {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.last
	p.last = nil
	return c
}

// The leader's loop over a real store, reading the store's change log,
// proposes what a full round (Correlate) over the store's state at that
// moment computes: after agents' rounds are committed, read at the round
// or gathered over reads between rounds (Run's, for the candidate watch),
// as the clock moves, and after the state is replaced by a restore
// through raft (the log's epoch moves, the engine starts over), seen by a
// read between rounds or by the round.
func TestLoopOverStoreChangesEqualsFull(t *testing.T) {
	clock := &testClock{now: t0}
	st := storetest.Open(t, func(c *store.Config) { c.Now = clock.Now })
	tap := &proposalTap{Store: st}
	cfg := Config{OpenAfterObservations: 2, ResolveAfterClean: 2}
	loop := NewLoop(tap, LoopConfig{Engine: cfg, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	fl := fleetsim.Scale(600, t0) // 30 agents
	for _, a := range fl.Agents {
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: a.GetAgentId(), Site: a.GetSite(), Hostname: a.GetHostname()}}}}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := map[string]uint64{}
	commit := func(rounds []fleetsim.Round) {
		t.Helper()
		var bs []*mxv1.AgentBatch
		for _, rd := range rounds {
			seqs[rd.Agent]++
			bs = append(bs, &mxv1.AgentBatch{AgentId: rd.Agent, Batch: &mxv1.ResultBatch{Seq: seqs[rd.Agent], Results: rd.Results}})
		}
		if _, err := st.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: bs}}}); err != nil {
			t.Fatal(err)
		}
	}
	var all []fleetsim.Round
	for _, id := range slices.Sorted(maps.Keys(fl.Agents)) {
		all = append(all, fleetsim.Round{Agent: id, Results: roundOf(fl, id)})
	}
	commit(all)
	rng := rand.New(rand.NewPCG(5, 5))
	proposals, restores := 0, 0
	for step := range 60 {
		clock.Set(clock.Now().Add(time.Duration(1+rng.IntN(20)) * time.Second))
		fl.Now = clock.Now()
		switch step % 4 {
		case 3:
		case 1:
			// Run's reads between rounds (the candidate watch): the
			// round takes what they gathered, some keys changed twice.
			commit(fl.ChurnRounds(rng, 0.2))
			loop.read()
			commit(fl.ChurnRounds(rng, 0.2))
			loop.read()
			commit(fl.ChurnRounds(rng, 0.1))
		default:
			commit(fl.ChurnRounds(rng, 0.2))
		}
		if step == 25 || step == 45 {
			b, err := st.Backup()
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Restore(ctx, b); err != nil {
				t.Fatal(err)
			}
			restores++
			if step == 45 {
				// A read between rounds meets the restore.
				loop.read()
				commit(fl.ChurnRounds(rng, 0.2))
				loop.read()
			}
		}
		v := st.State().CorrelationView()
		want := Correlate(Input{Agents: v.Agents, Results: v.Results, Incidents: v.Incidents, Now: clock.Now()}, cfg)
		if _, err := loop.Round(ctx); err != nil {
			t.Fatal(err)
		}
		got := tap.take()
		if got == nil {
			got = &mxv1.CorrelateIncidents{}
		} else {
			proposals++
		}
		if !equalProposal(got, want) {
			t.Fatalf("step %d: the loop proposed %d upserts and %d deletes, a full round %d and %d", step, len(got.GetUpserts()), len(got.GetDeletes()), len(want.Upserts), len(want.Deletes))
		}
	}
	if proposals == 0 || restores == 0 {
		t.Fatalf("%d proposals, %d restores: both must occur", proposals, restores)
	}
}

func equalProposal(c *mxv1.CorrelateIncidents, o Output) bool {
	return slices.EqualFunc(c.GetUpserts(), o.Upserts, func(a, b *mxv1.Incident) bool { return proto.Equal(a, b) }) &&
		slices.EqualFunc(c.GetDeletes(), o.Deletes, func(a, b *mxv1.IncidentRef) bool { return proto.Equal(a, b) })
}

// roundOf is agent id's current results in fl.
func roundOf(fl *fleetsim.Fleet, id string) []*mxv1.CheckResult {
	var out []*mxv1.CheckResult
	for _, k := range fl.Keys() {
		if k.Agent == id {
			out = append(out, fl.Results[k].GetResult())
		}
	}
	if len(out) == 0 {
		panic(fmt.Sprintf("no results of %s", id))
	}
	return out
}
