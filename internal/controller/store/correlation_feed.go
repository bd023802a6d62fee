package store

import (
	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// The correlation hand-off: the leader's correlation loop reads what
// changed since its previous round instead of every agent, result and
// incident. The FSM notes the key of every agent, result and incident it
// stores or drops in a bounded log (this node's, not replicated: it is
// derived from the applied commands like the maps it indexes). A reader
// holds a cursor; CorrelationChanges answers with the current objects of
// the keys changed after it, or with everything when the cursor is of an
// earlier state (the zero cursor, or a restore replaced the state since)
// or older than the log keeps (overflow).

// DefaultMaxCorrelationChanges bounds the change log (56 bytes an
// entry: 7 MiB). At 100,000 results/s a reader falls back to everything
// only when its rounds are more than about a second apart.
const DefaultMaxCorrelationChanges = 1 << 17

// ChangeCursor is a position in a State's change log. The zero cursor is
// before everything.
type ChangeCursor struct{ epoch, seq uint64 }

type changeKind uint8

const (
	changeAgent changeKind = iota
	changeResult
	changeIncident
)

// change is one changed key: an agent id, a result key, an incident id (in
// agent).
type change struct {
	kind                 changeKind
	agent, check, target string
}

// changeLog: entry i has sequence base+i. epoch moves when the state is
// replaced (restore).
type changeLog struct {
	epoch uint64
	base  uint64
	log   []change
	max   int
}

func newChangeLog() changeLog { return changeLog{epoch: 1, max: DefaultMaxCorrelationChanges} }

// note records a change (caller holds the state's write lock). Past max,
// the older half is dropped: a reader behind it gets everything.
func (c *changeLog) note(ch change) {
	if len(c.log) >= c.max {
		half := len(c.log) / 2
		n := copy(c.log, c.log[half:])
		clear(c.log[n:])
		c.log = c.log[:n]
		c.base += uint64(half)
	}
	c.log = append(c.log, ch)
}

func (c *changeLog) agent(id string) { c.note(change{kind: changeAgent, agent: id}) }
func (c *changeLog) result(k resultKey) {
	c.note(change{kind: changeResult, agent: k.agent, check: k.check, target: k.target})
}
func (c *changeLog) incident(id string)   { c.note(change{kind: changeIncident, agent: id}) }
func (c *changeLog) cursor() ChangeCursor { return ChangeCursor{c.epoch, c.base + uint64(len(c.log))} }
func (c *changeLog) replaced()            { c.epoch++; c.base = 0; clear(c.log); c.log = c.log[:0] }
func (c *changeLog) since(cur ChangeCursor) ([]change, bool) {
	if cur.epoch != c.epoch || cur.seq < c.base || cur.seq > c.base+uint64(len(c.log)) {
		return nil, false
	}
	return c.log[cur.seq-c.base:], true
}

// CorrelationChanges is what changed since a cursor: the current agents,
// results and incidents of the keys changed after it (each once), and the
// keys dropped. Like CorrelationView, the objects are as stored
// (immutable; do not modify).
type CorrelationChanges struct {
	// Full: the cursor is not in the log (the zero cursor, a restore
	// since, or older than the log keeps): View holds everything and the
	// lists below are empty.
	Full bool
	// Replaced: the state was replaced since the cursor (a restore, or
	// the zero cursor): nothing read before it describes the state.
	Replaced bool
	View     CorrelationView

	Agents           []*mxv1.Agent
	Results          []*mxv1.StoredResult
	Incidents        []*mxv1.Incident
	RemovedAgents    []string
	RemovedResults   []ResultKey
	RemovedIncidents []string
	// Next is the cursor to read from next time.
	Next ChangeCursor
}

// CorrelationChanges returns what changed after cursor since.
func (s *State) CorrelationChanges(since ChangeCursor) CorrelationChanges {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := CorrelationChanges{Next: s.changes.cursor()}
	log, ok := s.changes.since(since)
	if !ok {
		out.Full = true
		out.Replaced = since.epoch != s.changes.epoch
		out.View = s.correlationViewLocked()
		return out
	}
	seen := make(map[change]bool, len(log))
	for _, ch := range log {
		if seen[ch] {
			continue
		}
		seen[ch] = true
		switch ch.kind {
		case changeAgent:
			if a := s.agents[ch.agent]; a != nil {
				out.Agents = append(out.Agents, a)
			} else {
				out.RemovedAgents = append(out.RemovedAgents, ch.agent)
			}
		case changeResult:
			if r := s.results[resultKey{ch.agent, ch.check, ch.target}].get(); r != nil {
				out.Results = append(out.Results, r)
			} else {
				out.RemovedResults = append(out.RemovedResults, ResultKey{ch.agent, ch.check, ch.target})
			}
		case changeIncident:
			if inc := s.incidents.byID[ch.agent]; inc != nil {
				out.Incidents = append(out.Incidents, inc)
			} else {
				out.RemovedIncidents = append(out.RemovedIncidents, ch.agent)
			}
		}
	}
	return out
}
