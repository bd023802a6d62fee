package store

import (
	"errors"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Incident change feed (GET /v1/events). The FSM derives one event
// from every applied incident change a human would care about, in apply
// order, so every node holds the same events under the same cursors. The
// feed is bounded: past Config.MaxIncidentEvents the oldest are compacted
// away and compacted moves up; a client whose cursor is below it re-lists.

// DefaultMaxIncidentEvents bounds the feed kept in the replicated state
// when Config.MaxIncidentEvents is 0.
const DefaultMaxIncidentEvents = 10000

// ErrCursorCompacted: the events after that cursor are no longer kept.
var ErrCursorCompacted = errors.New("store: event cursor compacted away")

// eventState is the feed: events in cursor order, the highest cursor
// compacted away and the highest cursor issued.
type eventState struct {
	events    []*mxv1.IncidentEvent
	compacted uint64
	last      uint64
	// changed is closed (and replaced) whenever events are appended.
	changed chan struct{}
	// max is how many events are kept (the same on every node, since
	// compaction is part of the replicated state).
	max int
}

func newEventState() *eventState {
	return &eventState{changed: make(chan struct{}), max: DefaultMaxIncidentEvents}
}

// feed returns the change feed (the pointer never changes).
func (s *State) feed() *eventState { return s.events }

// incidentsBefore returns the stored incidents a command is about to change
// (nil entries for new ones), in the command's order.
func (s *State) incidentsBefore(ids []string) []incidentBefore {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]incidentBefore, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, incidentBefore{id: id, inc: s.incidents.byID[id]})
	}
	return out
}

type incidentBefore struct {
	id  string
	inc *mxv1.Incident
}

// recordEvents appends the events for the changes applied since
// incidentsBefore (called from the FSM, single-threaded).
func (s *State) recordEvents(before []incidentBefore, at *timestamppb.Timestamp) {
	f := s.feed()
	s.mu.Lock()
	n := 0
	for _, b := range before {
		cur := s.incidents.byID[b.id]
		if cur == nil || cur == b.inc || (b.inc != nil && cur.GetSequence() <= b.inc.GetSequence()) {
			continue
		}
		typ := incident.EventType(b.inc.GetState(), cur, incident.Material(b.inc, cur))
		if typ == "" {
			continue
		}
		f.last++
		f.events = append(f.events, &mxv1.IncidentEvent{
			Cursor: f.last, Type: typ, IncidentId: cur.GetId(), Sequence: cur.GetSequence(), Time: at,
			Fingerprint: cur.GetFingerprint(), State: cur.GetState(), Severity: cur.GetSeverity(),
		})
		n++
	}
	if over := len(f.events) - f.max; over > 0 {
		f.compacted = f.events[over-1].GetCursor()
		f.events = append([]*mxv1.IncidentEvent(nil), f.events[over:]...)
	}
	var wake chan struct{}
	if n > 0 {
		wake, f.changed = f.changed, make(chan struct{})
	}
	s.mu.Unlock()
	if wake != nil {
		close(wake)
	}
}

// Events returns up to limit events with a cursor above after, the
// compacted floor and the highest cursor issued; ErrCursorCompacted when
// after is below the floor.
func (s *State) Events(after uint64, limit int) ([]*mxv1.IncidentEvent, uint64, uint64, error) {
	f := s.feed()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if after < f.compacted {
		return nil, f.compacted, f.last, ErrCursorCompacted
	}
	i := sort.Search(len(f.events), func(i int) bool { return f.events[i].GetCursor() > after })
	end := len(f.events)
	if limit > 0 && i+limit < end {
		end = i + limit
	}
	return append([]*mxv1.IncidentEvent(nil), f.events[i:end]...), f.compacted, f.last, nil
}

// EventsChanged returns a channel closed when the next events are appended
// (or the state is restored).
func (s *State) EventsChanged() <-chan struct{} {
	f := s.feed()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return f.changed
}

// snapshotEvents fills the snapshot's feed fields (caller holds s.mu).
func (s *State) snapshotEventsLocked(snap *mxv1.StateSnapshot) {
	f := s.events
	snap.IncidentEvents = append([]*mxv1.IncidentEvent(nil), f.events...)
	snap.IncidentEventsCompacted, snap.IncidentEventsLast = f.compacted, f.last
}

// restoreEvents replaces the feed from a snapshot and wakes every waiter.
func (s *State) restoreEvents(snap *mxv1.StateSnapshot) {
	f := s.feed()
	s.mu.Lock()
	f.events = append([]*mxv1.IncidentEvent(nil), snap.GetIncidentEvents()...)
	f.compacted, f.last = snap.GetIncidentEventsCompacted(), snap.GetIncidentEventsLast()
	if n := len(f.events); n > 0 && f.events[n-1].GetCursor() > f.last {
		f.last = f.events[n-1].GetCursor()
	}
	wake := f.changed
	f.changed = make(chan struct{})
	s.mu.Unlock()
	close(wake)
}

// restoreBackupEvents handles a RestoreState command: the restored state's
// incidents replace the current ones, so cursors continue above everything
// issued so far and everything before is compacted (clients re-list).
func (s *State) restoreBackupEvents(prevLast uint64) {
	f := s.feed()
	s.mu.Lock()
	last := max(prevLast, f.last)
	f.events, f.compacted, f.last = nil, last, last
	wake := f.changed
	f.changed = make(chan struct{})
	s.mu.Unlock()
	close(wake)
}

// eventsLast is the highest cursor issued.
func (s *State) eventsLast() uint64 {
	f := s.feed()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return f.last
}
