package correlate

import (
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

func keylessOn(fl *simFleet, id string) {
	f := storeCertFinding(finding.CertNoPrivateKey, crit, "B79D", "CN=mail.contoso.com", "CN=Contoso CA", fl.Agents[id].GetHostname(), t0.Add(300*24*time.Hour))
	fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
}

func clean(fl *simFleet, id string) {
	fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
}

func only(t *testing.T, stored map[string]*mxv1.Incident) *mxv1.Incident {
	t.Helper()
	if len(stored) != 1 {
		t.Fatalf("want one stored incident, got %d:\n%s", len(stored), dump(open(stored)))
	}
	for _, i := range stored {
		return i
	}
	return nil
}

// Damping: PENDING until N observations; a one-off flap never opens; M
// clean observations resolve; a return within the window reopens the same
// incident with a new sequence; rounds without new data change nothing.
func TestDampingAndFlapping(t *testing.T) {
	cfg := Config{OpenAfterObservations: 3, OpenAfter: time.Hour, ResolveAfterClean: 2, ReopenWindow: time.Hour, SilentAfter: 24 * time.Hour}
	fl := threeSites()
	stored := map[string]*mxv1.Incident{}
	step := func() { fl.Now = fl.Now.Add(30 * time.Second) }

	// A flap: one bad observation, then clean: never opens, is dropped.
	keylessOn(fl, "ams-edge01")
	fl.run(t, cfg, stored)
	if s := only(t, stored).GetState(); s != statePending {
		t.Fatalf("after 1 observation: %v", s)
	}
	step()
	clean(fl, "ams-edge01")
	fl.run(t, cfg, stored)
	if len(stored) != 0 {
		t.Fatalf("flap kept: %s", dump(open(stored)))
	}

	// Persisting: opens at the third observation.
	for i := 1; i <= 3; i++ {
		step()
		keylessOn(fl, "ams-edge01")
		fl.run(t, cfg, stored)
		// Re-running on the same data changes nothing.
		if out := fl.run(t, cfg, stored); !out.Empty() {
			t.Fatalf("idempotent round changed %d incidents", len(out.Upserts))
		}
		want := statePending
		if i == 3 {
			want = stateOpen
		}
		if s := only(t, stored).GetState(); s != want {
			t.Fatalf("after %d observations: %v, want %v", i, s, want)
		}
	}
	inc := only(t, stored)
	id, seq := inc.GetId(), inc.GetSequence()

	if out := fl.run(t, cfg, stored); len(out.Unobserved) != 0 {
		t.Fatalf("observed incident listed as unobserved: %v", out.Unobserved)
	}

	// One clean observation is not enough; a relapse resets the count. While
	// its findings are gone the open incident is listed as unobserved.
	step()
	clean(fl, "ams-edge01")
	if out := fl.run(t, cfg, stored); len(out.Unobserved) != 1 || out.Unobserved[0] != id {
		t.Fatalf("after 1 clean: unobserved %v, want [%s]", out.Unobserved, id)
	}
	if s := stored[id].GetState(); s != stateOpen || stored[id].GetCleanObservations() != 1 {
		t.Fatalf("after 1 clean: %v clean=%d", s, stored[id].GetCleanObservations())
	}
	step()
	keylessOn(fl, "ams-edge01")
	if out := fl.run(t, cfg, stored); len(out.Unobserved) != 0 {
		t.Fatalf("after the relapse: unobserved %v", out.Unobserved)
	}
	for range 2 {
		step()
		clean(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	if s := stored[id].GetState(); s != stateResolve {
		t.Fatalf("after 2 clean: %v", s)
	}
	// Back within the reopen window: the same incident, new sequence.
	for range 3 {
		step()
		keylessOn(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	re := only(t, stored)
	if re.GetId() != id || re.GetState() != stateOpen || re.GetSequence() <= seq {
		t.Fatalf("reopen: id %s (want %s) state %v seq %d (was %d)", re.GetId(), id, re.GetState(), re.GetSequence(), seq)
	}
	kinds := []string{}
	for _, e := range re.GetTimeline() {
		kinds = append(kinds, e.GetKind())
	}
	if want := []string{"opened", "resolved", "reopened"}; !equalStrings(kinds, want) {
		t.Fatalf("timeline %v, want %v", kinds, want)
	}
	// Resolved past the window: a new occurrence (new id, same fingerprint).
	for range 2 {
		step()
		clean(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	fl.Now = fl.Now.Add(2 * time.Hour)
	for range 3 {
		step()
		keylessOn(fl, "ams-edge01")
		fl.run(t, cfg, stored)
	}
	if len(stored) != 2 {
		t.Fatalf("want the resolved occurrence and a new one:\n%s", dump(open(stored)))
	}
	for _, i := range stored {
		if i.GetId() != id && (i.GetOccurrence() != 2 || i.GetFingerprint() != re.GetFingerprint() || i.GetState() != stateOpen) {
			t.Fatalf("new occurrence %s occ %d state %v", i.GetId(), i.GetOccurrence(), i.GetState())
		}
	}
}

// Time-based damping: a finding that persists OpenAfter opens even with
// fewer observations.
func TestDampingByTime(t *testing.T) {
	cfg := Config{OpenAfterObservations: 10, OpenAfter: 2 * time.Minute}
	fl := threeSites()
	stored := map[string]*mxv1.Incident{}
	keylessOn(fl, "ams-edge01")
	fl.run(t, cfg, stored)
	fl.Now = fl.Now.Add(3 * time.Minute)
	fl.run(t, cfg, stored) // no new data: time alone
	if s := only(t, stored).GetState(); s != stateOpen {
		t.Fatalf("state %v after OpenAfter", s)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Determinism: the same data in any order (agents, results, stored
// incidents) gives byte-identical output.
func TestDeterministicUnderShuffle(t *testing.T) {
	fl, _ := seedFleet(t)
	// Add every other scope's data on top of the seed fleet.
	for _, s := range []string{"london", "paris"} {
		for i := range 3 {
			id := s[:3] + "-edge0" + string(rune('1'+i))
			fl.agent(id, s, id+".contoso.com")
			ep := "partner.fabrikam.com:25"
			if s == "london" {
				fl.probe(id, ep, endpointFinding(finding.SMTPStartTLSNotOffered, ep, errS))
			} else {
				fl.probe(id, ep)
			}
			f := storeCertFinding(finding.CertExpiring, warn, "EEEE", "CN=mail.contoso.com", "CN=CA", id+".contoso.com", t0.Add(10*24*time.Hour))
			fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/x", Findings: []*mxv1.Finding{f}})
		}
	}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, immediate, stored)
	fl.Now = fl.Now.Add(30 * time.Second)
	fl.report("ams-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
	in := fl.input(nil)
	for _, k := range sortedKeys(stored) {
		in.Incidents = append(in.Incidents, stored[k])
	}
	want := Correlate(in, immediate)
	wb := marshalOut(t, want)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		sh := Input{Now: in.Now, Agents: append([]*mxv1.Agent(nil), in.Agents...), Results: append([]*mxv1.StoredResult(nil), in.Results...), Incidents: append([]*mxv1.Incident(nil), in.Incidents...)}
		r.Shuffle(len(sh.Agents), func(i, j int) { sh.Agents[i], sh.Agents[j] = sh.Agents[j], sh.Agents[i] })
		r.Shuffle(len(sh.Results), func(i, j int) { sh.Results[i], sh.Results[j] = sh.Results[j], sh.Results[i] })
		r.Shuffle(len(sh.Incidents), func(i, j int) { sh.Incidents[i], sh.Incidents[j] = sh.Incidents[j], sh.Incidents[i] })
		if got := marshalOut(t, Correlate(sh, immediate)); string(got) != string(wb) {
			t.Fatalf("shuffle %d: output differs", i)
		}
	}
	if len(open(stored)) < 3 {
		t.Fatalf("expected several incidents:\n%s", dump(open(stored)))
	}
}

func marshalOut(t testing.TB, o Output) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&mxv1.CorrelateIncidents{Upserts: o.Upserts, Deletes: o.Deletes})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
