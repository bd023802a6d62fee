package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// feedMirror is what a reader of CorrelationChanges knows: it keeps the
// objects it was handed by key.
type feedMirror struct {
	cur       ChangeCursor
	agents    map[string]*mxv1.Agent
	results   map[ResultKey]*mxv1.StoredResult
	incidents map[string]*mxv1.Incident
	full      int
	replaced  int
}

func newFeedMirror() *feedMirror { return &feedMirror{} }

func (m *feedMirror) read(s *State) CorrelationChanges {
	ch := s.CorrelationChanges(m.cur)
	m.cur = ch.Next
	if ch.Full {
		m.full++
		if ch.Replaced {
			m.replaced++
		}
		m.agents, m.results, m.incidents = map[string]*mxv1.Agent{}, map[ResultKey]*mxv1.StoredResult{}, map[string]*mxv1.Incident{}
		ch.Agents, ch.Results, ch.Incidents = ch.View.Agents, ch.View.Results, ch.View.Incidents
	}
	for _, a := range ch.Agents {
		m.agents[a.GetAgentId()] = a
	}
	for _, r := range ch.Results {
		m.results[ResultKey{r.GetAgentId(), r.GetResult().GetCheck(), r.GetResult().GetTarget()}] = r
	}
	for _, inc := range ch.Incidents {
		m.incidents[inc.GetId()] = inc
	}
	for _, id := range ch.RemovedAgents {
		delete(m.agents, id)
	}
	for _, k := range ch.RemovedResults {
		delete(m.results, k)
	}
	for _, id := range ch.RemovedIncidents {
		delete(m.incidents, id)
	}
	return ch
}

// equal: the mirror holds exactly the state's objects (the same pointers).
func (m *feedMirror) equal(t *testing.T, s *State, when string) {
	t.Helper()
	v := s.CorrelationView()
	if len(v.Agents) != len(m.agents) || len(v.Results) != len(m.results) || len(v.Incidents) != len(m.incidents) {
		t.Fatalf("%s: mirror holds %d agents, %d results, %d incidents; state %d, %d, %d", when,
			len(m.agents), len(m.results), len(m.incidents), len(v.Agents), len(v.Results), len(v.Incidents))
	}
	for _, a := range v.Agents {
		if m.agents[a.GetAgentId()] != a {
			t.Fatalf("%s: agent %s differs", when, a.GetAgentId())
		}
	}
	for _, r := range v.Results {
		if m.results[ResultKey{r.GetAgentId(), r.GetResult().GetCheck(), r.GetResult().GetTarget()}] != r {
			t.Fatalf("%s: result %s %s differs", when, r.GetAgentId(), r.GetResult().GetTarget())
		}
	}
	for _, inc := range v.Incidents {
		if m.incidents[inc.GetId()] != inc {
			t.Fatalf("%s: incident %s differs", when, inc.GetId())
		}
	}
}

// A reader that applies every CorrelationChanges to what it holds has
// the state's agents, results and incidents after every change: batches,
// Hellos, re-enrollment into another site, TLS-RPT results, incident
// upserts, deletes and actions, restores (everything again, marked
// replaced) and a log overflowing between reads (everything again, not
// marked replaced). Between two reads, a change is handed over once.
func TestCorrelationChangesMirrorState(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s := newState()
	s.changes.max = 64
	m := newFeedMirror()
	at := timestamppb.New(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	seqs := map[string]uint64{}
	ch := m.read(s)
	if !ch.Full || !ch.Replaced {
		t.Fatalf("the zero cursor must get everything, marked replaced: %+v", ch)
	}
	overflows := 0
	for step := range 600 {
		at = timestamppb.New(at.AsTime().Add(time.Second))
		n := 1 + rng.IntN(4)
		if rng.IntN(25) == 0 {
			n = 80 // more than the log keeps
		}
		for range n {
			id := fmt.Sprintf("agent%d", rng.IntN(8))
			switch rng.IntN(6) {
			case 0:
				s.registerAgent(&mxv1.Hello{AgentId: id, Site: "s1", Hostname: id + ".example"}, at)
			case 1, 2:
				seqs[id]++
				var rs []*mxv1.CheckResult
				for range 1 + rng.IntN(3) {
					rs = append(rs, &mxv1.CheckResult{Check: "smtp_probe", Target: fmt.Sprintf("t%d", rng.IntN(5)), Status: mxv1.CheckStatus(rng.IntN(4))})
				}
				s.ingest(&mxv1.AgentBatch{AgentId: id, Batch: &mxv1.ResultBatch{Seq: seqs[id], Results: rs}}, at)
			case 3:
				inc := &mxv1.Incident{Id: fmt.Sprintf("inc-%d", rng.IntN(6)), Fingerprint: "fp", Occurrence: 1}
				old := s.Incident(inc.GetId())
				inc.Sequence, inc.Revision = old.GetSequence()+1, old.GetRevision()+1
				s.applyCorrelate(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}})
			case 4:
				if old := s.Incident(fmt.Sprintf("inc-%d", rng.IntN(6))); old != nil {
					s.applyCorrelate(&mxv1.CorrelateIncidents{Deletes: []*mxv1.IncidentRef{{Id: old.GetId(), Sequence: old.GetSequence(), Revision: old.GetRevision()}}})
				}
			case 5:
				if rng.IntN(10) == 0 {
					snap := proto.CloneOf(s.snapshot())
					s.restore(snap)
				}
			}
		}
		before := m.full
		ch := m.read(s)
		if n == 80 && m.full == before {
			t.Fatalf("step %d: %d changes in a log of %d did not hand over everything", step, n, s.changes.max)
		}
		if ch.Full && !ch.Replaced {
			overflows++
		}
		if !ch.Full {
			seen := map[any]bool{}
			for _, a := range ch.Agents {
				if seen[a] {
					t.Fatalf("step %d: agent %s handed over twice", step, a.GetAgentId())
				}
				seen[a] = true
			}
			for _, r := range ch.Results {
				if seen[r] {
					t.Fatalf("step %d: result handed over twice", step)
				}
				seen[r] = true
			}
		}
		m.equal(t, s, fmt.Sprintf("step %d", step))
		if again := m.read(s); again.Full || len(again.Agents)+len(again.Results)+len(again.Incidents)+len(again.RemovedIncidents) > 0 {
			t.Fatalf("step %d: a read without changes in between handed over %+v", step, again)
		}
	}
	if overflows == 0 || m.replaced < 2 {
		t.Fatalf("the history had %d overflows and %d restores: both must occur", overflows, m.replaced-1)
	}
	if len(s.changes.log) > s.changes.max {
		t.Fatalf("the log holds %d changes, more than its bound %d", len(s.changes.log), s.changes.max)
	}
}
