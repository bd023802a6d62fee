package correlate

import (
	"errors"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Changes is what changed in the replicated state since an Engine's
// previous round (store.CorrelationChanges): the current agents, results
// and incidents of the keys that changed, and the keys dropped. A key
// appears at most once. Nothing in it is modified.
type Changes struct {
	Agents           []*mxv1.Agent
	Results          []*mxv1.StoredResult
	Incidents        []*mxv1.Incident
	RemovedAgents    []string
	RemovedResults   []ResultRef
	RemovedIncidents []string
	// Now is the leader's clock for this round.
	Now time.Time
}

// ResultRef names the result of one check of one agent against a target.
type ResultRef struct{ Agent, Check, Target string }

// ErrNoRound: an Engine without a previous round (a new one, or after
// Reset) needs the whole input (Round), not the changes to it.
var ErrNoRound = errors.New("correlate: the engine has no previous round")

// Primed reports whether the engine kept a previous round, so that
// RoundChanges can run.
func (e *Engine) Primed() bool { return e.s != nil }

// Results is how many results the engine's previous round read.
func (e *Engine) Results() int {
	if e.s == nil {
		return 0
	}
	return len(e.s.results)
}

// RoundChanges runs one round over the previous round's input with c
// applied, like Correlate over that input: it looks only at what c names
// (and at the clock). A change of the agents beyond their reports (one
// added or removed, a site or host name changed) computes everything, as
// in Round.
func (e *Engine) RoundChanges(c Changes) (Output, error) {
	s := e.s
	if s == nil {
		return Output{}, ErrNoRound
	}
	if !s.sameAgentsAfter(c) {
		in := s.input(c)
		e.s = nil
		return e.Round(in), nil
	}
	rs := newRoundState()
	s.round++
	s.v.now = c.Now
	for _, a := range c.Agents {
		s.agentRecord(s.agents[a.GetAgentId()], a, rs)
	}
	s.resultDelta(c)
	s.lc.incidentDelta(c.Incidents, c.RemovedIncidents)
	return s.finishRound(rs), nil
}

// sameAgentsAfter: after c, the agents are the state's up to their reports.
func (s *incState) sameAgentsAfter(c Changes) bool {
	if len(c.RemovedAgents) > 0 {
		return false
	}
	for _, a := range c.Agents {
		as := s.agents[a.GetAgentId()]
		if as == nil || !as.known {
			return false
		}
		host := strings.ToLower(strings.TrimSuffix(a.GetHostname(), "."))
		if host == "" {
			host = strings.ToLower(a.GetAgentId())
		}
		if a.GetSite() != as.ai.site || host != as.ai.host {
			return false
		}
	}
	return true
}

// input is the previous round's input with c applied.
func (s *incState) input(c Changes) Input {
	in := Input{Now: c.Now}
	agents := map[string]*mxv1.Agent{}
	results := map[ResultRef]*mxv1.StoredResult{}
	for id, as := range s.agents {
		if as.known {
			agents[id] = as.src
		}
		for _, r := range as.results {
			results[refOf(r)] = r
		}
	}
	for _, a := range c.Agents {
		agents[a.GetAgentId()] = a
	}
	for _, id := range c.RemovedAgents {
		delete(agents, id)
	}
	for _, r := range c.Results {
		results[refOf(r)] = r
	}
	for _, k := range c.RemovedResults {
		delete(results, k)
	}
	incs := map[string]*mxv1.Incident{}
	for id, e := range s.lc.stored {
		incs[id] = e.inc
	}
	for _, inc := range c.Incidents {
		incs[inc.GetId()] = inc
	}
	for _, id := range c.RemovedIncidents {
		delete(incs, id)
	}
	for _, a := range agents {
		in.Agents = append(in.Agents, a)
	}
	for _, r := range results {
		in.Results = append(in.Results, r)
	}
	for _, inc := range incs {
		in.Incidents = append(in.Incidents, inc)
	}
	return in
}

func refOf(r *mxv1.StoredResult) ResultRef {
	return ResultRef{r.GetAgentId(), r.GetResult().GetCheck(), r.GetResult().GetTarget()}
}

// findResult is the position of check/target in results (sorted by
// check and target).
func findResult(results []*mxv1.StoredResult, check, target string) (int, bool) {
	return slices.BinarySearchFunc(results, [2]string{check, target}, func(r *mxv1.StoredResult, k [2]string) int {
		return compareStrings(r.GetResult().GetCheck(), k[0], r.GetResult().GetTarget(), k[1])
	})
}

// resultDelta notes agents with a result added, replaced or removed by
// key.
func (s *incState) resultDelta(c Changes) {
	for _, k := range c.RemovedResults {
		as := s.agents[k.Agent]
		if as == nil {
			continue
		}
		if i, ok := findResult(as.results, k.Check, k.Target); ok {
			delete(s.results, as.results[i])
			as.results = slices.Delete(as.results, i, i+1)
			as.dirty = true
		}
	}
	// A replaced result takes its predecessor's place (the order stays);
	// new keys are appended after, and their agents' results sorted again.
	entries := make([]resultEntry, len(c.Results))
	var fresh []int
	for i, r := range c.Results {
		as := s.agents[r.GetAgentId()]
		if as == nil {
			as = &agentState{id: r.GetAgentId(), ai: s.v.agent(r.GetAgentId())}
			s.agents[as.id] = as
		}
		j, ok := findResult(as.results, r.GetResult().GetCheck(), r.GetResult().GetTarget())
		if !ok {
			fresh = append(fresh, i)
			continue
		}
		if as.results[j] == r {
			continue
		}
		old := as.results[j]
		prev := s.results[old]
		delete(s.results, old)
		as.results[j] = r
		as.dirty = true
		entries[i] = resultEntry{as: as, round: s.round, prev: prev, prevRes: old}
		s.results[r] = &entries[i]
	}
	var unsorted []*agentState
	for _, i := range fresh {
		r := c.Results[i]
		as := s.agents[r.GetAgentId()]
		if !as.unsorted {
			as.unsorted = true
			unsorted = append(unsorted, as)
		}
		as.results = append(as.results, r)
		as.dirty = true
		entries[i] = resultEntry{as: as, round: s.round}
		s.results[r] = &entries[i]
	}
	for _, as := range unsorted {
		slices.SortFunc(as.results, resultCmp)
		as.unsorted = false
	}
}

// incidentDelta notes the fingerprints whose stored incidents changed.
func (lc *lifecycleState) incidentDelta(changed []*mxv1.Incident, removed []string) {
	for _, id := range removed {
		if e := lc.stored[id]; e != nil {
			lc.changed[e.inc.GetFingerprint()] = true
			lc.replace(e.inc, nil)
			delete(lc.stored, id)
		}
	}
	for _, inc := range changed {
		e := lc.stored[inc.GetId()]
		if e == nil {
			lc.stored[inc.GetId()] = &storedEntry{inc: inc, round: lc.round}
			lc.changed[inc.GetFingerprint()] = true
			lc.replace(nil, inc)
			continue
		}
		if e.inc != inc {
			lc.changed[e.inc.GetFingerprint()] = true
			lc.changed[inc.GetFingerprint()] = true
			lc.replace(e.inc, inc)
			e.inc = inc
		}
	}
}
