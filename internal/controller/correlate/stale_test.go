package correlate

import (
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// An agent that goes silent makes its evidence stale and the timeline names
// it; when it reports again with its check clean, the stale mark goes at
// once, though the incident stays open until it has been clean for
// ResolveAfterClean observations.
func TestSilentAgentsEvidenceFreshWhenItReturnsClean(t *testing.T) {
	fl := threeSites()
	f := storeCertFinding(finding.CertNoPrivateKey, crit, "DEAD01", "CN=x", "CN=Contoso CA", "lon-edge01.contoso.com", t0.Add(90*24*time.Hour))
	fl.report("lon-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Findings: []*mxv1.Finding{f}})
	cfg := Config{OpenAfterObservations: 1, ResolveAfterClean: 2, SilentAfter: 3 * time.Minute}
	stored := map[string]*mxv1.Incident{}
	fl.run(t, cfg, stored)
	fl.Now = fl.Now.Add(5 * time.Minute)
	fl.run(t, cfg, stored)
	server := onlyCause(t, stored, "CERT_NO_PRIVATE_KEY")
	if !server.GetStale() || !server.GetMembers()[0].GetStale() {
		t.Fatalf("evidence of the silent agent not stale:\n%s", dump(open(stored)))
	}
	if c := lastEvent(server, incident.KindStale); c != "evidence from silent agents (lon-edge01) is stale" {
		t.Fatalf("stale event %q", c)
	}
	fl.Now = fl.Now.Add(time.Minute)
	fl.report("lon-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
	fl.run(t, cfg, stored)
	server = stored[server.GetId()]
	if server.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || server.GetCleanObservations() != 1 || server.GetStale() || server.GetMembers()[0].GetStale() {
		t.Fatalf("after one clean result: state %v clean %d stale %v member stale %v", server.GetState(), server.GetCleanObservations(), server.GetStale(), server.GetMembers()[0].GetStale())
	}
	if c := lastEvent(server, incident.KindObserved); !strings.Contains(c, "agents lon-edge01 report again") {
		t.Fatalf("timeline: %v", server.GetTimeline())
	}
	fl.Now = fl.Now.Add(time.Minute)
	fl.report("lon-edge01", &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`})
	fl.run(t, cfg, stored)
	if s := stored[server.GetId()].GetState(); s != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("after two clean results: %v", s)
	}
}

func onlyCause(t *testing.T, stored map[string]*mxv1.Incident, cause string) *mxv1.Incident {
	t.Helper()
	var found *mxv1.Incident
	for _, i := range open(stored) {
		if i.GetCause() == cause {
			if found != nil {
				t.Fatalf("two %s incidents:\n%s", cause, dump(open(stored)))
			}
			found = i
		}
	}
	if found == nil {
		t.Fatalf("no open %s incident:\n%s", cause, dump(open(stored)))
	}
	return found
}

// lastEvent is the comment of the incident's newest timeline entry of kind.
func lastEvent(inc *mxv1.Incident, kind string) string {
	c := ""
	for _, e := range inc.GetTimeline() {
		if e.GetKind() == kind {
			c = e.GetComment()
		}
	}
	return c
}
