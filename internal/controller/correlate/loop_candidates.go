package correlate

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Between rounds the leader's loop watches what raft applies for a
// committed result that could open (or reopen) an incident, and runs a
// round for it without waiting for the next tick: on a loaded machine the
// wait for the tick and the pacing after a slow round (busyFactor) were
// most of the time from a failure to its incident (mxbench -mode
// incident). A result counts when
//
//   - its check started failing, or fails with other finding codes, with
//     this commit: the store's history of the result (one entry per change
//     of status or of the codes at WARNING or worse) ends with a change at
//     its committed_at that has codes (a new candidate); or
//   - it fails (a finding at or above MinSeverity) at the key of a member
//     of an incident that waits for observations: PENDING (damping), or
//     RESOLVED with observations counted towards reopening. When an
//     incident stores only some of its members (MaxMembers), every failing
//     result of its agents counts.
//
// A fleet whose failures persist (the same codes in every report, their
// incidents open) causes no such round: those rounds stay on the tick and
// its pacing. Neither does a new subject under the same code on a failing
// check (the history keeps codes), nor a new finding below WARNING with
// MinSeverity lower: those wait for the tick as before. The watch sees
// what the loop's feed reads and keeps only what the waiting incidents
// wait on: per result a look at its last history entry, and a map lookup
// by agent while any incident waits.
type candidateWatch struct {
	min mxv1.Severity
	// cursor is where the watch read the change log last.
	cursor store.ChangeCursor
	// waiting: incident id -> what it waits on; the maps below count
	// those over incidents: agents named at all, result keys, agents all
	// of whose failing results count.
	waiting  map[string]waitOn
	byAgent  map[string]int
	byKey    map[waitKey]int
	anyAgent map[string]int
}

// waitOn is what one incident waits on.
type waitOn struct {
	keys   []waitKey
	agents []string
}

type waitKey struct{ agent, check, target string }

func newCandidateWatch(min mxv1.Severity) *candidateWatch {
	w := &candidateWatch{min: min}
	w.reset()
	return w
}

func (w *candidateWatch) reset() {
	w.waiting, w.byAgent, w.byKey, w.anyAgent = map[string]waitOn{}, map[string]int{}, map[waitKey]int{}, map[string]int{}
}

// state starts over from the stored incidents (a read of the whole
// state: the first, after a restore or an overflow).
func (w *candidateWatch) state(incidents []*mxv1.Incident) {
	w.reset()
	for _, inc := range incidents {
		w.incident(inc)
	}
}

// changes notes what ch changed and reports whether it holds a result
// that could open or reopen an incident.
func (w *candidateWatch) changes(ch store.CorrelationChanges) bool {
	// Incidents first: a result committed after its incident turned
	// PENDING is an observation of it.
	for _, id := range ch.RemovedIncidents {
		w.unwait(id)
	}
	for _, inc := range ch.Incidents {
		w.incident(inc)
	}
	found := false
	for _, r := range ch.Results {
		if w.result(r) {
			found = true
		}
	}
	return found
}

// result reports whether r could open or reopen an incident.
func (w *candidateWatch) result(r *mxv1.StoredResult) bool {
	if h := r.GetHistory(); len(h) > 0 {
		if last := h[len(h)-1]; len(last.GetCodes()) > 0 && sameTime(last.GetAt(), r.GetCommittedAt()) {
			return true
		}
	}
	a := r.GetAgentId()
	if w.byAgent[a] == 0 || !w.fails(r.GetResult()) {
		return false
	}
	return w.anyAgent[a] > 0 || w.byKey[waitKey{a, r.GetResult().GetCheck(), r.GetResult().GetTarget()}] > 0
}

// fails: res has a finding at or above the minimum severity.
func (w *candidateWatch) fails(res *mxv1.CheckResult) bool {
	for _, f := range res.GetFindings() {
		if f.GetSeverity() >= w.min {
			return true
		}
	}
	return false
}

func sameTime(a, b *timestamppb.Timestamp) bool {
	return a != nil && b != nil && a.GetSeconds() == b.GetSeconds() && a.GetNanos() == b.GetNanos()
}

// incident notes whether inc waits for observations, and on what.
func (w *candidateWatch) incident(inc *mxv1.Incident) {
	w.unwait(inc.GetId())
	st := inc.GetState()
	if st != mxv1.IncidentState_INCIDENT_STATE_PENDING && (st != mxv1.IncidentState_INCIDENT_STATE_RESOLVED || inc.GetObservations() == 0) {
		return
	}
	var on waitOn
	for _, m := range inc.GetMembers() {
		on.keys = append(on.keys, waitKey{m.GetAgentId(), m.GetCheck(), m.GetTarget()})
	}
	if int(inc.GetMembersTotal()) > len(inc.GetMembers()) {
		on.agents = inc.GetAgents()
	}
	w.waiting[inc.GetId()] = on
	w.count(on, 1)
}

func (w *candidateWatch) unwait(id string) {
	if on, ok := w.waiting[id]; ok {
		w.count(on, -1)
		delete(w.waiting, id)
	}
}

// count adds d to the counts of what on waits on.
func (w *candidateWatch) count(on waitOn, d int) {
	for _, k := range on.keys {
		add(w.byKey, k, d)
		add(w.byAgent, k.agent, d)
	}
	for _, a := range on.agents {
		add(w.anyAgent, a, d)
		add(w.byAgent, a, d)
	}
}

func add[K comparable](m map[K]int, k K, d int) {
	if m[k] += d; m[k] <= 0 {
		delete(m, k)
	}
}
