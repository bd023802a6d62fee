package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// replica is one node's FSM in TestDeltaEntriesApplyAsFull.
type replica struct {
	f *fsm
}

func newReplica(leader bool) replica {
	f := &fsm{state: newState()}
	if leader {
		f.proposed = &proposals{}
	}
	return replica{f: f}
}

func (r replica) apply(t *testing.T, b []byte) any {
	t.Helper()
	return r.f.Apply(&raft.Log{Type: raft.LogCommand, Index: 1, Data: b})
}

// nextRound is a random correlation round over the leader's stored
// incidents: upserts that keep some of the stored incident's members (in
// order, reordered, with new ones among them) or none, new incidents,
// some at a revision the compare-and-set rejects, and deletes.
func nextRound(rng *rand.Rand, st *State, ids []string) *mxv1.CorrelateIncidents {
	c := &mxv1.CorrelateIncidents{}
	for _, id := range ids {
		if rng.IntN(3) == 0 {
			continue
		}
		old := st.Incident(id)
		if old != nil && rng.IntN(8) == 0 {
			rev := old.GetRevision()
			if rng.IntN(3) == 0 {
				rev++ // stale: rejected
			}
			c.Deletes = append(c.Deletes, &mxv1.IncidentRef{Id: id, Sequence: old.GetSequence(), Revision: rev})
			continue
		}
		inc := randomIncident(rng, 0.6)
		inc.Id, inc.Fingerprint = id, "fp-"+id
		inc.Revision = old.GetRevision() + 1
		switch rng.IntN(10) {
		case 0:
			inc.Revision++ // rejected
		case 1:
			inc.Revision = old.GetRevision() // rejected
		}
		if old != nil {
			// Some of the large fields stay the same (the same value,
			// or an equal one).
			for _, kf := range keptFields {
				if rng.IntN(2) == 0 {
					kf.take(inc, old)
					if rng.IntN(2) == 0 {
						inc.Agents, inc.Hosts, inc.Sites = slices.Clone(inc.Agents), slices.Clone(inc.Hosts), slices.Clone(inc.Sites)
						if inc.RootCause != nil {
							inc.RootCause = proto.CloneOf(inc.RootCause)
						}
					}
				}
			}
		}
		// Long lists and a long fix, as the incidents of a whole class
		// of agents have, edited from round to round.
		inc.Agents = editList(rng, old.GetAgents(), "agent")
		inc.Hosts = editList(rng, old.GetHosts(), "host")
		if rng.IntN(4) > 0 {
			inc.Remediation = strings.Join(editList(rng, strings.Fields(old.GetRemediation()), "word"), " ")
			if rng.IntN(3) == 0 {
				inc.Remediation += " \n"
			}
		}
		ms := slices.Clone(old.GetMembers())
		switch rng.IntN(5) {
		case 0: // a new list
			ms = nil
		case 1: // reordered
			rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		case 2: // some dropped
			ms = slices.DeleteFunc(ms, func(*mxv1.IncidentMember) bool { return rng.IntN(4) == 0 })
		case 3: // the same list, repeated members
			if len(ms) > 0 {
				ms = append(ms, ms[rng.IntN(len(ms))])
			}
		}
		for range rng.IntN(4) {
			ms = slices.Insert(ms, rng.IntN(len(ms)+1), randomMember(rng, 0.7))
		}
		inc.Members = ms
		c.Upserts = append(c.Upserts, inc)
	}
	return c
}

// editList is a list of about 100 strings: a new one, or old with a few
// removed, added or changed.
func editList(rng *rand.Rand, old []string, prefix string) []string {
	if len(old) == 0 || rng.IntN(6) == 0 {
		var out []string
		for range 90 + rng.IntN(20) {
			out = append(out, fmt.Sprintf("%s%d,", prefix, rng.IntN(1000)))
		}
		return out
	}
	out := slices.Clone(old)
	for range rng.IntN(5) {
		switch i := rng.IntN(len(out)); rng.IntN(3) {
		case 0:
			out = slices.Delete(out, i, i+1)
		case 1:
			out = slices.Insert(out, i, fmt.Sprintf("%s%d", prefix, rng.IntN(1000)))
		default:
			out[i] = fmt.Sprintf("%s%d", prefix, rng.IntN(1000))
		}
		if len(out) == 0 {
			out = append(out, prefix)
		}
	}
	return out
}

// TestDeltaEntriesApplyAsFull: over random histories, a follower applying
// the leader's entries (deltas where an upsert keeps members) reaches the
// state the leader reaches applying the rounds whole, and so does a node
// applying the whole rounds' encodings (entries of older binaries),
// snapshots included; every round answers the same. Between computing a
// round and applying it another change may commit (the round's
// compare-and-set then rejects what it covers, on every node).
func TestDeltaEntriesApplyAsFull(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			leader, follower, whole := newReplica(true), newReplica(false), newReplica(false)
			var ids []string
			for i := range 12 {
				ids = append(ids, fmt.Sprintf("inc-%02d", i))
			}
			deltas := 0
			var words wordBufs // scratch reused from round to round, as the leader's
			var runs [5]int    // upserts with agent, host, fix and member runs, kept fields
			for round := range 30 {
				at := &timestamppb.Timestamp{Seconds: 1.7e9 + int64(round)}
				c := nextRound(rng, leader.f.state, ids)
				full := &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: c}}
				fullBytes, err := encodeCommand(full)
				if err != nil {
					t.Fatal(err)
				}
				b := fullBytes
				if d, ok := leader.f.state.correlateDelta(c, &words); ok {
					deltas++
					for _, u := range d.GetUpserts() {
						runs[0] += min(len(u.GetAgentRuns()), 1)
						runs[1] += min(len(u.GetHostRuns()), 1)
						runs[2] += min(len(u.GetRemediationRuns()), 1)
						runs[3] += min(len(u.GetMemberRuns()), 1)
						runs[4] += min(len(u.GetKeptFields()), 1)
					}
					if b, err = encodeCommand(&mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidentsDelta{CorrelateIncidentsDelta: d}}); err != nil {
						t.Fatal(err)
					}
				}
				if rng.IntN(5) == 0 {
					// Another change commits first: an incident moves on.
					other := nextRound(rng, leader.f.state, ids)
					ob, err := encodeCommand(&mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: other}})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range []replica{leader, follower, whole} {
						r.apply(t, ob)
					}
				}
				forget := leader.f.proposed.add(b, full)
				want := leader.apply(t, b)
				forget()
				if got := follower.apply(t, b); got != want {
					t.Fatalf("round %d: the follower answers %+v, the leader %+v", round, got, want)
				}
				if got := whole.apply(t, fullBytes); got != want {
					t.Fatalf("round %d: the whole entry answers %+v, the leader %+v", round, got, want)
				}
				ls := leader.f.state.snapshot()
				for name, r := range map[string]replica{"follower": follower, "whole": whole} {
					if s := r.f.state.snapshot(); !proto.Equal(s, ls) {
						t.Fatalf("round %d: the %s's state differs from the leader's", round, name)
					}
				}
			}
			if deltas < 10 {
				t.Fatalf("only %d of 30 rounds were written as deltas", deltas)
			}
			for i, n := range runs {
				if n < 5 {
					t.Fatalf("only %d upserts with %s", n, []string{"agent runs", "host runs", "fix runs", "member runs", "kept fields"}[i])
				}
			}
		})
	}
}

// TestDeltaEntryKeepsWhatIsNew: a round that keeps most members writes
// only the new ones.
func TestDeltaEntryKeepsWhatIsNew(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	st := newState()
	var ms []*mxv1.IncidentMember
	for range 200 {
		ms = append(ms, randomMember(rng, 1))
	}
	st.applyCorrelate(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "a", Revision: 1, Members: ms}}})
	next := append(slices.Clone(ms[:100]), randomMember(rng, 1))
	next = append(next, ms[101:]...)
	d, ok := st.correlateDelta(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "a", Revision: 2, Members: next}}}, nil)
	if !ok {
		t.Fatal("not written as a delta")
	}
	runs := d.GetUpserts()[0].GetMemberRuns()
	want := []*mxv1.IncidentMemberRun{{From: 0, Count: 100, Added: next[100:101]}, {From: 101, Count: 99}}
	if len(runs) != len(want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	for i := range want {
		if !proto.Equal(runs[i], want[i]) {
			t.Fatalf("run %d: %v, want %v", i, runs[i], want[i])
		}
	}
	if len(d.GetUpserts()[0].GetIncident().GetMembers()) != 0 {
		t.Fatal("the delta's incident carries members")
	}
	if full, delta := proto.Size(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "a", Revision: 2, Members: next}}}), proto.Size(d); delta*20 > full {
		t.Fatalf("the delta is %d bytes of the whole round's %d", delta, full)
	}
}

// TestWithoutMembersKeepsEveryField: withoutMembers copies every field of
// an incident but its members (a new field in incident.proto that it
// leaves out fails here).
func TestWithoutMembersKeepsEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	inc := &mxv1.Incident{}
	fill(rng, inc.ProtoReflect(), 1, 3)
	out := withoutMembers(inc)
	if len(out.GetMembers()) != 0 {
		t.Fatal("members copied")
	}
	out.Members = inc.Members
	if !proto.Equal(out, inc) {
		t.Fatal("a field is not copied")
	}
}

// TestExpandDeltaRejectsBadRuns: runs out of the stored incident's
// members, or over another revision, make an upsert the FSM rejects.
func TestExpandDeltaRejectsBadRuns(t *testing.T) {
	st := newState()
	st.applyCorrelate(&mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{{Id: "a", Revision: 1, Members: []*mxv1.IncidentMember{{AgentId: "x"}}}}})
	for name, u := range map[string]*mxv1.IncidentUpsert{
		"past the end":   {Incident: &mxv1.Incident{Id: "a", Revision: 2}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 2}}},
		"overflow":       {Incident: &mxv1.Incident{Id: "a", Revision: 2}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 1<<32 - 1, Count: 2}}},
		"other revision": {Incident: &mxv1.Incident{Id: "a", Revision: 3}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 1}}},
		"unknown":        {Incident: &mxv1.Incident{Id: "b", Revision: 1}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 1}}},
		"no revision":    {Incident: &mxv1.Incident{Id: "a"}, MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 1}}},
		"no incident":    {MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 1}}},
	} {
		c := st.expandDelta(&mxv1.CorrelateIncidentsDelta{Upserts: []*mxv1.IncidentUpsert{u}})
		if res := st.applyCorrelate(c); res.Applied != 0 || res.Rejected != 1 {
			t.Errorf("%s: %+v, want rejected", name, res)
		}
	}
	c := st.expandDelta(&mxv1.CorrelateIncidentsDelta{Upserts: []*mxv1.IncidentUpsert{{Incident: &mxv1.Incident{Id: "a", Revision: 2},
		MemberRuns: []*mxv1.IncidentMemberRun{{From: 0, Count: 1, Added: []*mxv1.IncidentMember{{AgentId: "y"}}}}}}})
	if res := st.applyCorrelate(c); res.Applied != 1 {
		t.Fatalf("a valid delta: %+v", res)
	}
	if got := st.Incident("a").GetMembers(); len(got) != 2 || got[0].GetAgentId() != "x" || got[1].GetAgentId() != "y" {
		t.Fatalf("members %v", got)
	}
}

// TestDeltaEntriesWaitForEveryNode: on a three-node cluster the leader
// writes rounds whole until every other server registered that it applies
// deltas, then as deltas; the followers' incidents are the leader's
// either way.
func TestDeltaEntriesWaitForEveryNode(t *testing.T) {
	c := newInmemCluster(t, 3)
	li := c.leader(t, -1)
	l := c.stores[li]
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	var ms []*mxv1.IncidentMember
	for range 50 {
		ms = append(ms, randomMember(rng, 1))
	}
	rev := uint64(0)
	round := func(want string) {
		t.Helper()
		rev++
		ms = append(slices.Clone(ms[1:]), randomMember(rng, 1))
		inc := &mxv1.Incident{Id: "inc-a", Fingerprint: "a", Revision: rev, Sequence: rev, Summary: "the same summary", Members: ms}
		res, err := l.ProposeIncidents(ctx, &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}})
		if err != nil || res.Applied != 1 {
			t.Fatalf("round %d: %+v %v", rev, res, err)
		}
		e := &raft.Log{}
		if err := l.logs.GetLog(l.raft.LastIndex(), e); err != nil {
			t.Fatal(err)
		}
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", cmd.GetKind()); got != want {
			t.Fatalf("round %d written as %s, want %s", rev, got, want)
		}
	}
	round("*mxprobev1.Command_CorrelateIncidents") // new
	round("*mxprobev1.Command_CorrelateIncidents") // no server registered deltas yet
	for i, s := range c.stores {
		if i != li {
			if err := l.RegisterNode(ctx, &mxv1.NodeInfo{NodeId: s.NodeID(), Features: Features()}); err != nil {
				t.Fatal(err)
			}
			if i == (li+1)%3 {
				round("*mxprobev1.Command_CorrelateIncidents") // one server left
			}
		}
	}
	round("*mxprobev1.Command_CorrelateIncidentsDelta")
	round("*mxprobev1.Command_CorrelateIncidentsDelta")
	want := l.State().Incident("inc-a")
	for i, s := range c.stores {
		if i == li {
			continue
		}
		deadline := time.Now().Add(time.Minute) // a failure bound
		for s.AppliedIndex() < l.AppliedIndex() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := s.State().Incident("inc-a"); !proto.Equal(got, want) {
			t.Fatalf("node %d's incident differs from the leader's", i)
		}
	}
}

// TestRunsOf: runs rebuild the list over old whatever the edits
// (duplicates included), and a few edits of a long list keep the rest in
// a few runs.
func TestRunsOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for range 500 {
		var old []string
		for range rng.IntN(60) {
			old = append(old, fmt.Sprint(rng.IntN(12)))
		}
		list := slices.Clone(old)
		for range rng.IntN(6) {
			i := rng.IntN(len(list) + 1)
			switch {
			case rng.IntN(2) == 0 || i == len(list):
				list = slices.Insert(list, i, fmt.Sprint(rng.IntN(15)))
			default:
				list = slices.Delete(list, i, i+1)
			}
		}
		if rng.IntN(5) == 0 {
			rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		}
		runs, _ := runsOf(old, list, noSkip[string])
		got, ok := fromRuns(old, runs)
		if !ok || !slices.Equal(got, list) {
			t.Fatalf("runs of %v over %v give %v", list, old, got)
		}
	}
	var old []string
	for i := range 1000 {
		old = append(old, fmt.Sprintf("host%04d", i))
	}
	list := slices.Delete(slices.Clone(old), 500, 501)
	list = slices.Delete(list, 100, 103)
	list = slices.Insert(list, 700, "new1", "new2")
	runs, kept := runsOf(old, list, noSkip[string])
	if kept != 996 || len(runs) > 4 {
		t.Fatalf("%d kept in %d runs, want 996 in at most 4", kept, len(runs))
	}
}
