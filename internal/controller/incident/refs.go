package incident

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// KindExternalRefs is the timeline kind of a change of external references.
const KindExternalRefs = "external_refs"

// Bounds of an incident's external references.
const (
	MaxExternalRefs      = 16
	MaxExternalRefKeyLen = 32
	MaxExternalRefLen    = 256
)

// ValidRefs checks the refs of one update: keys are system names (1..32 of
// a-z 0-9 _ - .), values one line of at most 256 characters ("" removes).
func ValidRefs(refs map[string]string) error {
	if len(refs) == 0 {
		return fmt.Errorf("%w: external_refs: at least one system -> reference is required", ErrInvalidAction)
	}
	if len(refs) > MaxExternalRefs {
		return fmt.Errorf("%w: external_refs: at most %d entries", ErrInvalidAction, MaxExternalRefs)
	}
	for _, k := range slices.Sorted(maps.Keys(refs)) {
		if k == "" || len(k) > MaxExternalRefKeyLen || strings.ContainsFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
		}) {
			return fmt.Errorf("%w: external_refs: system %q must be 1 to %d of a-z 0-9 _ - .", ErrInvalidAction, k, MaxExternalRefKeyLen)
		}
		v := refs[k]
		if len(v) > MaxExternalRefLen || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("%w: external_refs[%s]: one line of at most %d characters", ErrInvalidAction, k, MaxExternalRefLen)
		}
	}
	return nil
}

// UpdateRefs merges u's references into a copy of inc at time at (the raft
// command's proposed_at): a value sets, "" removes. A change increments the
// sequence and adds a timeline entry naming the actor; an update that
// changes nothing returns inc itself, unchanged. inc is never modified.
func UpdateRefs(inc *mxv1.Incident, u *mxv1.UpdateIncidentRefs, at *timestamppb.Timestamp) (*mxv1.Incident, error) {
	if inc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, u.GetIncidentId())
	}
	if u.GetExpectedSequence() != 0 && u.GetExpectedSequence() != inc.GetSequence() {
		return nil, fmt.Errorf("%w: %s is at sequence %d, not %d", ErrStaleSequence, inc.GetId(), inc.GetSequence(), u.GetExpectedSequence())
	}
	if err := ValidRefs(u.GetExternalRefs()); err != nil {
		return nil, err
	}
	merged := maps.Clone(inc.GetExternalRefs())
	if merged == nil {
		merged = map[string]string{}
	}
	var set, removed []string
	for _, k := range slices.Sorted(maps.Keys(u.GetExternalRefs())) {
		v := strings.TrimSpace(u.GetExternalRefs()[k])
		old, had := merged[k]
		switch {
		case v == "" && had:
			delete(merged, k)
			removed = append(removed, k)
		case v != "" && old != v:
			merged[k] = v
			set = append(set, k+"="+v)
		}
	}
	if len(set) == 0 && len(removed) == 0 {
		return inc, nil
	}
	if len(merged) > MaxExternalRefs {
		return nil, fmt.Errorf("%w: external_refs: an incident holds at most %d references", ErrInvalidAction, MaxExternalRefs)
	}
	next := proto.CloneOf(inc)
	next.ExternalRefs = merged
	if len(merged) == 0 {
		next.ExternalRefs = nil
	}
	next.Sequence++
	next.Revision++
	next.UpdatedAt = at
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	comment := strings.Join(parts, "; ")
	if c := strings.TrimSpace(u.GetComment()); c != "" {
		comment += ": " + c
	}
	AppendTimeline(next, &mxv1.TimelineEntry{At: at, Kind: KindExternalRefs, Actor: u.GetActor(), Comment: comment, Sequence: next.Sequence})
	return next, nil
}
