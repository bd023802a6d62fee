package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Random histories: an Engine's round equals a full round (Correlate, the
// reference) after every change, also while rounds over the same data
// settle, when a round's output is not committed (a rejected proposal),
// when every stored object is replaced by an equal copy (a restore), when
// leadership moves (a new engine, which starts over, takes the next
// rounds), and when the fleet gains or loses an agent or an agent moves to
// another site or host name (the engine starts over). The histories hold
// the other changes a round sees: results added, removed and re-committed
// at other severities, agent rounds that retire older results, agents
// falling silent and back, TLS-RPT reports from outside, results of agents
// that never said Hello, and time passing damping, reopen and retention
// deadlines.
//
// With changes (the leader's loop reading store.CorrelationChanges), the
// engine is handed what changed since its previous round, by key
// (RoundChanges); when the store's log overflowed it gets the whole input
// again (Round, which compares it with the previous round), and after a
// restore it starts over (Reset, then Round).
func TestIncrementalEqualsFull(t *testing.T) {
	for _, mode := range []string{"input", "changes"} {
		t.Run(mode, func(t *testing.T) { testIncrementalEqualsFull(t, mode == "changes") })
	}
}

func testIncrementalEqualsFull(t *testing.T, changes bool) {
	seeds, rounds := 6, 250
	if testing.Short() {
		seeds, rounds = 3, 120
	}
	upserts, leaders, deltas, overflows := 0, 0, 0, 0
	for seed := range seeds {
		h := newHistory(uint64(1000+seed), 24, 3)
		e := NewEngine(historyConfig)
		restarts, earlier := 1, 0
		var feed keyFeed
		round := func(in Input) Output {
			if !changes {
				return e.Round(in)
			}
			c := feed.changes(in)
			if !e.Primed() || h.pick(15) == 0 { // the store's log overflowed
				overflows++
				feed.last(in)
				return e.Round(in)
			}
			deltas++
			h.rng.Shuffle(len(c.Results), func(i, j int) { c.Results[i], c.Results[j] = c.Results[j], c.Results[i] })
			out, err := e.RoundChanges(c)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		compare := func(round_ int, what string) Output {
			t.Helper()
			in := h.fl.input(h.incidents())
			// Stored incidents are shared, never modified: each round's
			// changes are copies.
			before := make([]*mxv1.Incident, len(in.Incidents))
			for i, inc := range in.Incidents {
				before[i] = proto.CloneOf(inc)
			}
			defer func() {
				for i, inc := range in.Incidents {
					if !proto.Equal(inc, before[i]) {
						t.Fatalf("seed %d round %d (%s): a round modified stored incident %s", seed, round_, what, inc.GetId())
					}
				}
			}()
			want := Correlate(in, historyConfig)
			sh := Input{Now: in.Now, Agents: slices.Clone(in.Agents), Results: slices.Clone(in.Results), Incidents: slices.Clone(in.Incidents)}
			h.rng.Shuffle(len(sh.Results), func(i, j int) { sh.Results[i], sh.Results[j] = sh.Results[j], sh.Results[i] })
			h.rng.Shuffle(len(sh.Agents), func(i, j int) { sh.Agents[i], sh.Agents[j] = sh.Agents[j], sh.Agents[i] })
			got := round(sh)
			round := round_
			if !equalOutput(t, got, want) {
				t.Fatalf("seed %d round %d (%s): incremental round differs from the full round\n%s", seed, round, what, diffOutput(got, want))
			}
			upserts += len(want.Upserts)
			return want
		}
		for round := range rounds {
			h.advance()
			for range 1 + h.pick(6) {
				h.change()
			}
			k := h.pick(40)
			if round == 0 && k <= 4 {
				k = 5 // the engine's first round starts over anyway: nothing to count
			}
			switch k {
			case 0: // a restore: every object replaced by an equal copy
				for k, r := range h.fl.Results {
					h.fl.Results[k] = proto.CloneOf(r)
				}
				for k, a := range h.fl.Agents {
					h.fl.Agents[k] = proto.CloneOf(a)
				}
				for k, inc := range h.stored {
					h.stored[k] = proto.CloneOf(inc)
				}
				if changes { // the store says the state was replaced
					earlier += e.full
					e.Reset()
					e.full = 0
					restarts++
				}
			case 1: // a new agent: the engine starts over
				id := fmt.Sprintf("n%03d", round)
				h.fl.agent(id, fmt.Sprintf("site%d", h.pick(3)), id+".contoso.com")
				h.ids = append(h.ids, id)
				restarts++
			case 2: // leadership moved: the new leader's engine starts over
				if round == 0 {
					break
				}
				earlier += e.full
				e = NewEngine(historyConfig)
				leaders++
				restarts++
			case 3: // an agent removed (its results stay until the store drops them)
				if len(h.ids) > 4 {
					i := h.pick(len(h.ids))
					delete(h.fl.Agents, h.ids[i])
					h.ids = slices.Delete(h.ids, i, i+1)
					restarts++
				}
			case 4: // an agent moved to another site
				id := h.ids[h.pick(len(h.ids))]
				a := proto.CloneOf(h.fl.Agents[id])
				a.Site = fmt.Sprintf("site%d", h.pick(4))
				if a.GetSite() != h.fl.Agents[id].GetSite() {
					restarts++
				}
				h.fl.Agents[id] = a
			}
			out := compare(round, "after changes")
			if h.pick(10) == 0 {
				continue // the proposal was rejected: nothing stored
			}
			h.apply(t, out)
			for range 3 {
				again := compare(round, "settling")
				if again.Empty() {
					break
				}
				h.apply(t, again)
			}
		}
		if earlier+e.full != restarts {
			t.Fatalf("seed %d: engines started over %d times, want %d (once per engine, and once per agent added, removed or moved)", seed, earlier+e.full, restarts)
		}
	}
	if upserts == 0 {
		t.Fatal("no round changed an incident")
	}
	if leaders == 0 {
		t.Fatal("leadership never moved")
	}
	if changes && (deltas == 0 || overflows == 0) {
		t.Fatalf("%d rounds from changes, %d from the whole input: both must occur", deltas, overflows)
	}
}

// keyFeed hands an engine what changed by key since the input it last
// saw, as store.CorrelationChanges does.
type keyFeed struct {
	agents    map[string]*mxv1.Agent
	results   map[ResultRef]*mxv1.StoredResult
	incidents map[string]*mxv1.Incident
}

func (f *keyFeed) last(in Input) {
	f.agents, f.results, f.incidents = map[string]*mxv1.Agent{}, map[ResultRef]*mxv1.StoredResult{}, map[string]*mxv1.Incident{}
	for _, a := range in.Agents {
		f.agents[a.GetAgentId()] = a
	}
	for _, r := range in.Results {
		f.results[refOf(r)] = r
	}
	for _, inc := range in.Incidents {
		f.incidents[inc.GetId()] = inc
	}
}

// mapDiff is what cur holds that prev did not (a new value) and the keys
// prev held that cur does not.
func mapDiff[K comparable, V comparable](prev, cur map[K]V) (changed []V, removed []K) {
	var zero V
	for k, v := range cur {
		if prev[k] != v {
			changed = append(changed, v)
		}
	}
	for k := range prev {
		if cur[k] == zero {
			removed = append(removed, k)
		}
	}
	return changed, removed
}

// changes is what changed from the last input to in (which becomes the
// last).
func (f *keyFeed) changes(in Input) Changes {
	c := Changes{Now: in.Now}
	prev := *f
	f.last(in)
	c.Agents, c.RemovedAgents = mapDiff(prev.agents, f.agents)
	c.Results, c.RemovedResults = mapDiff(prev.results, f.results)
	c.Incidents, c.RemovedIncidents = mapDiff(prev.incidents, f.incidents)
	return c
}

func diffOutput(got, want Output) string {
	s := fmt.Sprintf("candidates %d, want %d; unobserved %v, want %v\n", got.Candidates, want.Candidates, got.Unobserved, want.Unobserved)
	byID := func(o Output) map[string]*mxv1.Incident {
		m := map[string]*mxv1.Incident{}
		for _, u := range o.Upserts {
			m[u.GetId()] = u
		}
		return m
	}
	g, w := byID(got), byID(want)
	for _, id := range sortedKeys(w) {
		if g[id] == nil {
			s += fmt.Sprintf("missing upsert %s %s %s\n", id, w[id].GetState(), w[id].GetSubject())
		} else if !proto.Equal(g[id], w[id]) {
			s += fmt.Sprintf("upsert %s differs:\n got  %s\n want %s\n", id, brief(g[id]), brief(w[id]))
		}
	}
	for _, id := range sortedKeys(g) {
		if w[id] == nil {
			s += fmt.Sprintf("extra upsert %s %s %s\n", id, g[id].GetState(), g[id].GetSubject())
		}
	}
	del := func(o Output) (out []string) {
		for _, d := range o.Deletes {
			out = append(out, d.GetId())
		}
		return out
	}
	if !slices.Equal(del(got), del(want)) {
		s += fmt.Sprintf("deletes %v, want %v\n", del(got), del(want))
	}
	return s
}

func brief(i *mxv1.Incident) string {
	return fmt.Sprintf("%s %s seq=%d rev=%d obs=%d clean=%d members=%d stale=%v dir=%s %q %q", i.GetState(), i.GetSubject(), i.GetSequence(), i.GetRevision(),
		i.GetObservations(), i.GetCleanObservations(), i.GetMembersTotal(), i.GetStale(), i.GetDirection(), i.GetSummary(), i.GetDirectionDetail())
}

// fold by linear search (an agent's round) and by maps (many
// observations) group the same observations the same way.
func TestFoldSmallEqualsMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ai := &agentInfo{id: "a"}
	for range 2000 {
		var os []*obs
		n := 1 + rng.IntN(12)
		for i := range n {
			f := &mxv1.Finding{Code: fmt.Sprintf("C%d", rng.IntN(4)), Subject: fmt.Sprintf("s%d", rng.IntN(3))}
			for range rng.IntN(3) {
				f.ExplainedBy = append(f.ExplainedBy, &mxv1.FindingRef{Code: fmt.Sprintf("C%d", rng.IntN(4)), Subject: fmt.Sprintf("s%d", rng.IntN(3))})
			}
			os = append(os, &obs{agent: ai, f: f, idx: i})
		}
		a, b := foldSmall(os), foldMap(os)
		if len(a) != len(b) {
			t.Fatalf("%d groups by linear search, %d by maps", len(a), len(b))
		}
		for i := range a {
			if a[i].root != b[i].root || !slices.Equal(a[i].symptoms, b[i].symptoms) {
				t.Fatalf("group %d differs", i)
			}
		}
	}
}

// counter.sorted is the sorted keys whose count is positive, after any
// sequence of adds and removals (keys added, removed, and both between
// two calls).
func TestCounterSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var c counter
	ref := map[string]int{}
	for step := range 3000 {
		for range 1 + rng.IntN(12) {
			k := fmt.Sprintf("k%03d", rng.IntN(60))
			d := 1
			if ref[k] > 0 && rng.IntN(2) == 0 {
				d = -1
			}
			ref[k] += d
			c.add(k, d)
		}
		var want []string
		for k, n := range ref {
			if n > 0 {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		if got := c.sorted(); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Fatalf("step %d: sorted %v, want %v", step, got, want)
		}
	}
}

// A bucket's members after any changes are its members in memberCmp
// order: few and many removed and added between two flushes (the
// binary-search cut and merge, and the sweep over all).
func TestBucketFlushKeepsMemberOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var all []*obs
	for a := range 40 {
		ai := &agentInfo{id: fmt.Sprintf("a%02d", a), site: "s", host: fmt.Sprintf("a%02d.example", a)}
		for c := range 3 {
			f := &mxv1.Finding{Code: "CERT_EXPIRING", Subject: fmt.Sprintf("tp%d", c), Severity: warn}
			all = append(all, &obs{agent: ai, check: "certstore", target: fmt.Sprintf("store%d", c), f: f, res: &mxv1.StoredResult{}})
		}
	}
	b := newIBucket(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON, "CERT_EXPIRING", "x"})
	in := map[*obs]bool{}
	for step := range 400 {
		n := 1 + rng.IntN(3)
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(len(all))
		}
		for range n {
			o := all[rng.IntN(len(all))]
			if in[o] {
				b.member(o, roleRoot, -1)
			} else {
				b.member(o, roleRoot, +1)
			}
			in[o] = !in[o]
		}
		b.flush()
		var want []member
		for _, o := range all {
			if in[o] {
				want = append(want, member{o, roleRoot})
			}
		}
		slices.SortFunc(want, memberCmp)
		if !slices.Equal(b.ms, want) {
			t.Fatalf("step %d: %d members, want %d in member order", step, len(b.ms), len(want))
		}
	}
}
