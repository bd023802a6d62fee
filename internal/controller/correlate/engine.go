package correlate

import (
	"cmp"
	"slices"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Output is one round's changes: incidents to store (each at its stored
// sequence + 1) and incidents to drop (compare-and-set on their sequence).
type Output struct {
	Upserts []*mxv1.Incident
	Deletes []*mxv1.IncidentRef
	// Candidates is how many incident candidates the round found.
	Candidates int
	// Unobserved are the ids of open or acknowledged incidents this round
	// found no candidate for: their findings are gone and they resolve after
	// Config.ResolveAfterClean clean observations.
	Unobserved []string
}

// Empty reports whether the round changed nothing.
func (o Output) Empty() bool { return len(o.Upserts) == 0 && len(o.Deletes) == 0 }

// Correlate runs one round. It is pure and deterministic: the same input in
// any order gives the same output. Nothing in in is modified.
func Correlate(in Input, cfg Config) Output {
	cfg = cfg.WithDefaults()
	v := newView(in, cfg)

	// Per agent: fold symptoms under their roots.
	obs := v.observations()
	var groups []*group
	for i := 0; i < len(obs); {
		j := i
		for j < len(obs) && obs[j].agent == obs[i].agent {
			j++
		}
		groups = append(groups, fold(obs[i:j])...)
		i = j
	}
	for _, g := range groups {
		v.features(g)
	}
	bs := v.classify(groups)

	// Current occurrence per fingerprint.
	cur := map[string]*mxv1.Incident{}
	for _, inc := range in.Incidents {
		if c := cur[inc.GetFingerprint()]; c == nil || inc.GetOccurrence() > c.GetOccurrence() {
			cur[inc.GetFingerprint()] = inc
		}
	}
	var out Output
	seen := map[string]bool{}
	keys := slices.Clone(bs.order)
	slices.SortFunc(keys, func(a, b bucketKey) int {
		return cmp.Or(cmp.Compare(a.scope, b.scope), cmp.Compare(a.cause, b.cause), cmp.Compare(a.subject, b.subject))
	})
	for _, k := range keys {
		c := v.build(bs.m[k])
		out.Candidates++
		seen[c.fingerprint] = true
		if next := v.present(c, cur[c.fingerprint]); next != nil {
			out.Upserts = append(out.Upserts, next)
		}
	}
	// Stored incidents without a candidate, in id order; older occurrences
	// only expire.
	stored := slices.Clone(in.Incidents)
	slices.SortFunc(stored, func(a, b *mxv1.Incident) int { return cmp.Compare(a.GetId(), b.GetId()) })
	for _, inc := range stored {
		if cur[inc.GetFingerprint()] != inc {
			if inc.GetState() == stateResolve && v.now.Sub(inc.GetResolvedAt().AsTime()) > cfg.Retention {
				out.Deletes = append(out.Deletes, &mxv1.IncidentRef{Id: inc.GetId(), Sequence: inc.GetSequence(), Revision: inc.GetRevision()})
			}
			continue
		}
		if seen[inc.GetFingerprint()] {
			continue
		}
		if incident.Active(inc.GetState()) {
			out.Unobserved = append(out.Unobserved, inc.GetId())
		}
		next, del := v.absent(inc)
		if next != nil {
			out.Upserts = append(out.Upserts, next)
		}
		if del != nil {
			out.Deletes = append(out.Deletes, del)
		}
	}
	slices.SortFunc(out.Upserts, func(a, b *mxv1.Incident) int { return cmp.Compare(a.GetId(), b.GetId()) })
	return out
}
