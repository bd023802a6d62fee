package correlate

import (
	"cmp"
	"container/heap"
	"maps"
	"math"
	"slices"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// lifecycleState is what an Engine keeps for the lifecycle step: the
// stored incidents as of the previous round (changes are found by
// identity), each fingerprint's current occurrence, the candidates by
// fingerprint, and which present and absent answers must be asked again
// (an answer that changed something is asked again until the store holds
// it; one that changed nothing only when its inputs change or the clock
// reaches the instant it depends on).
type lifecycleState struct {
	stored   map[string]*storedEntry
	byFP     map[string][]*mxv1.Incident
	cur      map[string]*mxv1.Incident
	bucketFP map[string]*ibucket

	// again: buckets whose present answered with an upsert.
	again map[*ibucket]bool
	// absent: current incidents without a candidate, by id; their memos,
	// the agents each memo's answer depends on, and those to ask again.
	absent      map[string]*mxv1.Incident
	absentMemo  map[string]*absentMemo
	absentBy    map[string]map[string]bool
	againAbsent map[string]bool
	// unobserved: the open or acknowledged ones among absent.
	unobserved     map[string]bool
	unobservedList []string
	unobservedOK   bool
	// old: older occurrences past retention (deleted every round until
	// they are gone).
	oldExpired map[string]*mxv1.Incident
	// changed: fingerprints whose incidents or candidate moved this round.
	changed map[string]bool
	timers  timerHeap
	// scheduled: the timers set, so an answer asked every round does not
	// set one per round.
	scheduled map[timer]bool
	round     uint64
}

type storedEntry struct {
	inc   *mxv1.Incident
	round uint64
}

type absentMemo struct {
	prev   *mxv1.Incident
	until  time.Time
	agents []string
}

func newLifecycleState() lifecycleState {
	return lifecycleState{stored: map[string]*storedEntry{}, byFP: map[string][]*mxv1.Incident{}, cur: map[string]*mxv1.Incident{},
		bucketFP: map[string]*ibucket{}, again: map[*ibucket]bool{}, absent: map[string]*mxv1.Incident{}, absentMemo: map[string]*absentMemo{},
		absentBy: map[string]map[string]bool{}, againAbsent: map[string]bool{}, unobserved: map[string]bool{}, oldExpired: map[string]*mxv1.Incident{},
		changed: map[string]bool{}, scheduled: map[timer]bool{}}
}

func (lc *lifecycleState) addBucket(b *ibucket) {
	lc.bucketFP[b.fingerprint] = b
	lc.changed[b.fingerprint] = true
}

func (lc *lifecycleState) dropBucket(b *ibucket) {
	b.gone = true
	if lc.bucketFP[b.fingerprint] == b {
		delete(lc.bucketFP, b.fingerprint)
	}
	delete(lc.again, b)
	lc.changed[b.fingerprint] = true
}

var never = time.Unix(math.MaxInt32, 0)

// timer: at (or after) at, ask present of b again (timerPresent), absent
// of incident id (timerAbsent), or look at fingerprint id's older
// occurrences (timerOld).
type timer struct {
	at   time.Time
	b    *ibucket
	id   string
	kind uint8
}

const (
	timerPresent uint8 = iota
	timerAbsent
	timerOld
)

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// incidentChanges compares the input's incidents with the previous
// round's and notes the fingerprints whose incidents changed.
func (lc *lifecycleState) incidentChanges(in Input) {
	lc.round++
	matched := 0
	var fresh []*mxv1.Incident
	for _, inc := range in.Incidents {
		e := lc.stored[inc.GetId()]
		if e == nil {
			fresh = append(fresh, inc)
			continue
		}
		e.round = lc.round
		matched++
		if e.inc != inc {
			lc.changed[e.inc.GetFingerprint()] = true
			lc.changed[inc.GetFingerprint()] = true
			lc.replace(e.inc, inc)
			e.inc = inc
		}
	}
	if matched != len(lc.stored) {
		for id, e := range lc.stored {
			if e.round != lc.round {
				lc.changed[e.inc.GetFingerprint()] = true
				lc.replace(e.inc, nil)
				delete(lc.stored, id)
			}
		}
	}
	for _, inc := range fresh {
		if e := lc.stored[inc.GetId()]; e != nil { // the same id twice in the input
			lc.replace(e.inc, nil)
		}
		lc.stored[inc.GetId()] = &storedEntry{inc: inc, round: lc.round}
		lc.changed[inc.GetFingerprint()] = true
		lc.replace(nil, inc)
	}
}

// replace swaps old for inc (either may be nil) in the fingerprint index.
func (lc *lifecycleState) replace(old, inc *mxv1.Incident) {
	if old != nil {
		fp := old.GetFingerprint()
		lc.byFP[fp] = slices.DeleteFunc(lc.byFP[fp], func(x *mxv1.Incident) bool { return x == old })
		if len(lc.byFP[fp]) == 0 {
			delete(lc.byFP, fp)
		}
	}
	if inc != nil {
		lc.byFP[inc.GetFingerprint()] = append(lc.byFP[inc.GetFingerprint()], inc)
	}
}

// lifecycle is Correlate's last step over the kept candidates: present
// and absent run again only where the candidate, the stored incident or
// the clock can change their answer.
func (s *incState) lifecycle(rs *roundState) Output {
	v := s.v
	cfg := v.cfg
	lc := &s.lc
	now := v.now
	ask := map[*ibucket]bool{}
	for b := range lc.again {
		ask[b] = true
	}
	for k := range rs.dirtyBuckets {
		if b := s.buckets[k]; b != nil {
			ask[b] = true
		}
	}
	askAbsent := map[string]bool{}
	for id := range lc.againAbsent {
		askAbsent[id] = true
	}
	for a := range rs.dirtyAgents {
		for id := range lc.absentBy[a] {
			askAbsent[id] = true
		}
	}
	for len(lc.timers) > 0 && !now.Before(lc.timers[0].at) {
		t := heap.Pop(&lc.timers).(timer)
		delete(lc.scheduled, t)
		switch t.kind {
		case timerPresent:
			if !t.b.gone {
				ask[t.b] = true
			}
		case timerAbsent:
			askAbsent[t.id] = true
		case timerOld:
			lc.changed[t.id] = true
		}
	}
	// Fingerprints whose incidents or candidate changed: their current
	// occurrence, older ones, and whether the current one is absent.
	for fp := range lc.changed {
		var cur *mxv1.Incident
		for _, inc := range lc.byFP[fp] {
			if cur == nil || inc.GetOccurrence() > cur.GetOccurrence() || inc.GetOccurrence() == cur.GetOccurrence() && inc.GetId() < cur.GetId() {
				cur = inc
			}
		}
		if prev := lc.cur[fp]; prev != nil && prev != cur {
			lc.setAbsent(prev, false)
		}
		if cur == nil {
			delete(lc.cur, fp)
		} else {
			lc.cur[fp] = cur
		}
		b := lc.bucketFP[fp]
		if b != nil {
			ask[b] = true
		}
		if cur != nil {
			lc.setAbsent(cur, b == nil)
			if b == nil {
				askAbsent[cur.GetId()] = true
			}
		}
		for _, inc := range lc.byFP[fp] {
			if inc == cur {
				delete(lc.oldExpired, inc.GetId())
				continue
			}
			if inc.GetState() != stateResolve {
				delete(lc.oldExpired, inc.GetId())
				continue
			}
			if v.now.Sub(inc.GetResolvedAt().AsTime()) > cfg.Retention {
				lc.oldExpired[inc.GetId()] = inc
			} else {
				delete(lc.oldExpired, inc.GetId())
				at := inc.GetResolvedAt().AsTime().Add(cfg.Retention).Add(time.Nanosecond)
				lc.schedule(timer{at: at, id: fp, kind: timerOld})
			}
		}
	}
	for id, inc := range lc.oldExpired {
		if lc.stored[id] == nil || lc.stored[id].inc != inc {
			delete(lc.oldExpired, id)
		}
	}
	clear(lc.changed)

	var out Output
	out.Candidates = len(s.buckets)
	for b := range ask {
		if b.gone {
			continue
		}
		c := b.cand
		prev := lc.cur[c.fingerprint]
		if b.memoNil && b.memoPrev == prev && prev != nil && now.Before(b.memoUntil) {
			continue
		}
		next := v.present(c, prev)
		delete(lc.again, b)
		if next != nil {
			out.Upserts = append(out.Upserts, next)
			lc.again[b] = true
		}
		b.memoNil, b.memoPrev, b.memoUntil = next == nil, prev, presentUntil(prev, cfg)
		if next == nil && b.memoUntil.Before(never) {
			lc.schedule(timer{at: b.memoUntil, b: b, kind: timerPresent})
		}
	}
	for id := range askAbsent {
		inc := lc.absent[id]
		if inc == nil {
			continue
		}
		if m := lc.absentMemo[id]; m != nil && m.prev == inc && now.Before(m.until) && !slices.ContainsFunc(m.agents, func(a string) bool { return rs.dirtyAgents[a] }) {
			continue
		}
		next, del := v.absent(inc)
		if next != nil {
			out.Upserts = append(out.Upserts, next)
		}
		if del != nil {
			out.Deletes = append(out.Deletes, del)
		}
		lc.forgetAbsent(id)
		if next == nil && del == nil {
			m := &absentMemo{prev: inc, until: absentUntil(inc, cfg)}
			if inc.GetState() != stateResolve {
				// A resolved incident's answer depends on the clock only
				// (absent: retention, a reopen that did not persist), not
				// on its members' agents.
				m.agents = memberAgents(inc)
			}
			lc.absentMemo[id] = m
			for _, a := range m.agents {
				setIn(lc.absentBy, a, id, true)
			}
			if m.until.Before(never) {
				lc.schedule(timer{at: m.until, id: id, kind: timerAbsent})
			}
		} else {
			lc.againAbsent[id] = true
		}
	}
	for _, inc := range lc.oldExpired {
		out.Deletes = append(out.Deletes, &mxv1.IncidentRef{Id: inc.GetId(), Sequence: inc.GetSequence(), Revision: inc.GetRevision()})
	}
	if !lc.unobservedOK {
		lc.unobservedList = slices.Sorted(maps.Keys(lc.unobserved))
		lc.unobservedOK = true
	}
	out.Unobserved = lc.unobservedList
	slices.SortFunc(out.Upserts, func(a, b *mxv1.Incident) int { return cmp.Compare(a.GetId(), b.GetId()) })
	slices.SortFunc(out.Deletes, func(a, b *mxv1.IncidentRef) int { return cmp.Compare(a.GetId(), b.GetId()) })
	return out
}

func (lc *lifecycleState) schedule(t timer) {
	if !lc.scheduled[t] {
		lc.scheduled[t] = true
		heap.Push(&lc.timers, t)
	}
}

// setAbsent notes whether current incident inc has no candidate.
func (lc *lifecycleState) setAbsent(inc *mxv1.Incident, absent bool) {
	id := inc.GetId()
	if !absent {
		if lc.absent[id] != nil {
			delete(lc.absent, id)
			lc.forgetAbsent(id)
		}
		if lc.unobserved[id] {
			delete(lc.unobserved, id)
			lc.unobservedOK = false
		}
		return
	}
	lc.absent[id] = inc
	st := inc.GetState()
	if want := incident.Active(st); want != lc.unobserved[id] {
		if want {
			lc.unobserved[id] = true
		} else {
			delete(lc.unobserved, id)
		}
		lc.unobservedOK = false
	}
}

func (lc *lifecycleState) forgetAbsent(id string) {
	if m := lc.absentMemo[id]; m != nil {
		for _, a := range m.agents {
			setIn(lc.absentBy, a, id, false)
		}
		delete(lc.absentMemo, id)
	}
	delete(lc.againAbsent, id)
}

// presentUntil: present's answer for prev (and an unchanged candidate)
// can change with the clock only at these instants (damping by time,
// the end of the reopen window).
func presentUntil(prev *mxv1.Incident, cfg Config) time.Time {
	switch prev.GetState() {
	case statePending:
		return prev.GetFirstSeen().AsTime().Add(cfg.OpenAfter)
	case stateResolve:
		return prev.GetResolvedAt().AsTime().Add(cfg.ReopenWindow)
	}
	return never
}

// absentUntil: absent's answer changes with the clock only at retention.
func absentUntil(prev *mxv1.Incident, cfg Config) time.Time {
	if prev.GetState() == stateResolve {
		return prev.GetResolvedAt().AsTime().Add(cfg.Retention)
	}
	return never
}

func memberAgents(inc *mxv1.Incident) []string {
	var out []string
	for _, m := range inc.GetMembers() {
		out = append(out, m.GetAgentId())
	}
	slices.Sort(out)
	return slices.Compact(out)
}
