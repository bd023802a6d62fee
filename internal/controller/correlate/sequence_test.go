package correlate

import (
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// An open incident observed round after round keeps its sequence (and so
// its ETag and updated_at); only its observation counters move. A resolved
// incident whose finding returns for one round, without reopening, keeps
// its sequence too.
func TestSequenceMovesOnlyOnMaterialChange(t *testing.T) {
	cfg := Config{OpenAfterObservations: 3, OpenAfter: time.Hour, ResolveAfterClean: 2, ReopenWindow: time.Hour, SilentAfter: 24 * time.Hour}
	fl := threeSites()
	stored := map[string]*mxv1.Incident{}
	step := func() { fl.Now = fl.Now.Add(30 * time.Second) }
	for range 3 {
		step()
		keylessOn(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	opened := only(t, stored)
	if opened.GetState() != stateOpen {
		t.Fatalf("not open: %v", opened.GetState())
	}
	for range 20 {
		step()
		keylessOn(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	after := only(t, stored)
	if after.GetSequence() != opened.GetSequence() || !after.GetUpdatedAt().AsTime().Equal(opened.GetUpdatedAt().AsTime()) {
		t.Fatalf("20 unchanged rounds moved the sequence %d -> %d (updated %v -> %v)", opened.GetSequence(), after.GetSequence(),
			opened.GetUpdatedAt().AsTime(), after.GetUpdatedAt().AsTime())
	}
	if after.GetObservations() != opened.GetObservations()+20 || after.GetRevision() != opened.GetRevision()+20 {
		t.Fatalf("observations %d -> %d, revision %d -> %d: want +20 each", opened.GetObservations(), after.GetObservations(), opened.GetRevision(), after.GetRevision())
	}
	// A second server with the same problem is material.
	step()
	keylessOn(fl, "ams-edge01")
	keylessOn(fl, "ams-edge02")
	fl.run(t, cfg, stored)
	if now := stored[after.GetId()]; now != nil && now.GetSequence() == after.GetSequence() && len(now.GetHosts()) > len(after.GetHosts()) {
		t.Fatalf("a new host did not move the sequence: %v", now.GetHosts())
	}
	// Resolve, then one round of the finding back: still resolved, same sequence.
	for range 3 {
		step()
		clean(fl, "ams-edge01")
		clean(fl, "ams-edge02")
		fl.run(t, cfg, stored)
	}
	var res *mxv1.Incident
	for _, i := range stored {
		if i.GetState() == stateResolve {
			res = i
		}
	}
	if res == nil {
		t.Fatalf("nothing resolved:\n%s", dump(open(stored)))
	}
	step()
	keylessOn(fl, "ams-edge01")
	fl.run(t, cfg, stored)
	back := stored[res.GetId()]
	if back.GetState() != stateResolve || back.GetSequence() != res.GetSequence() || back.GetSummary() != res.GetSummary() {
		t.Fatalf("one round back while resolved: state %v sequence %d -> %d summary %q -> %q", back.GetState(), res.GetSequence(), back.GetSequence(), res.GetSummary(), back.GetSummary())
	}
}
