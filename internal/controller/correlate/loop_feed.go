package correlate

import (
	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// feed is the loop's reader of the store's change log. Run reads it every
// candidatePoll between rounds, for the candidateWatch; a round reads it
// once more and takes what it gathered since the previous round: the
// current agent, result and incident of each key changed (the latest
// read's, each key once) and the keys dropped. So the log is read once
// however often the watch looks, and a round reads only what arrived
// since the last look. After a read that no longer reached back to the
// cursor (the first, a restore, an overflow) what was gathered is dropped
// and the round reads the whole state, as it would have itself.
type feed struct {
	cursor store.ChangeCursor
	// full: the next round reads everything; replaced: the state was
	// replaced since the previous round (the engine starts over).
	full, replaced bool
	// Gathered since the previous round; nil: dropped.
	agents    map[string]*mxv1.Agent
	results   map[ResultRef]*mxv1.StoredResult
	incidents map[string]*mxv1.Incident
	watch     *candidateWatch
}

func newFeed(min mxv1.Severity) *feed {
	return &feed{full: true, replaced: true, watch: newCandidateWatch(min),
		agents: map[string]*mxv1.Agent{}, results: map[ResultRef]*mxv1.StoredResult{}, incidents: map[string]*mxv1.Incident{}}
}

// read gathers what changed since the previous read and reports whether
// it holds a result that could open or reopen an incident
// (candidateWatch).
func (f *feed) read(st *store.State) bool {
	ch := st.CorrelationChanges(f.cursor)
	f.cursor = ch.Next
	if ch.Full {
		f.full, f.replaced = true, f.replaced || ch.Replaced
		clear(f.agents)
		clear(f.results)
		clear(f.incidents)
		f.watch.state(ch.View.Incidents)
		return false
	}
	if !f.full {
		for _, a := range ch.Agents {
			f.agents[a.GetAgentId()] = a
		}
		for _, id := range ch.RemovedAgents {
			f.agents[id] = nil
		}
		for _, r := range ch.Results {
			f.results[refOf(r)] = r
		}
		for _, k := range ch.RemovedResults {
			f.results[ResultRef{k.Agent, k.Check, k.Target}] = nil
		}
		for _, inc := range ch.Incidents {
			f.incidents[inc.GetId()] = inc
		}
		for _, id := range ch.RemovedIncidents {
			f.incidents[id] = nil
		}
	}
	return f.watch.changes(ch)
}

// roundInput is what a round runs over: the changes since the previous
// round (without the round's Now), or (full) the whole state, replaced
// since it or not.
type roundInput struct {
	full, replaced bool
	changes        Changes
	view           store.CorrelationView
}

// take reads the log up to now and hands over what was gathered since the
// previous take.
func (f *feed) take(st *store.State) roundInput {
	f.read(st)
	if f.full {
		return f.takeFull(st)
	}
	var c Changes
	for id, a := range f.agents {
		if a == nil {
			c.RemovedAgents = append(c.RemovedAgents, id)
		} else {
			c.Agents = append(c.Agents, a)
		}
	}
	for k, r := range f.results {
		if r == nil {
			c.RemovedResults = append(c.RemovedResults, k)
		} else {
			c.Results = append(c.Results, r)
		}
	}
	for id, inc := range f.incidents {
		if inc == nil {
			c.RemovedIncidents = append(c.RemovedIncidents, id)
		} else {
			c.Incidents = append(c.Incidents, inc)
		}
	}
	clear(f.agents)
	clear(f.results)
	clear(f.incidents)
	return roundInput{changes: c}
}

// takeFull reads the whole state.
func (f *feed) takeFull(st *store.State) roundInput {
	ch := st.CorrelationChanges(store.ChangeCursor{})
	f.cursor = ch.Next
	in := roundInput{full: true, replaced: f.replaced, view: ch.View}
	f.full, f.replaced = false, false
	clear(f.agents)
	clear(f.results)
	clear(f.incidents)
	f.watch.state(ch.View.Incidents)
	return in
}
