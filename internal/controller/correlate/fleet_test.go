package correlate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/controller/correlate/fleetsim"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// t0 is the simulated fleet's clock origin.
var t0 = time.Date(2019, 5, 2, 6, 32, 0, 0, time.UTC)

// simFleet is a simulated fleet: agents in several sites and their latest
// results as the FSM holds them (fleetsim.Fleet). Results are either
// produced by the real agent checks over realistic evidence (seed case)
// or built with the exact codes, subjects and evidence keys the agent's
// rules emit.
type simFleet struct {
	*fleetsim.Fleet
	round int
}

func newFleet() *simFleet { return &simFleet{Fleet: fleetsim.New(t0)} }

func (fl *simFleet) agent(id, site, host string) { fl.Agent(id, site, host) }

// report stores one agent's result at the current time (a committed batch).
func (fl *simFleet) report(agentID string, r *mxv1.CheckResult) { fl.Report(agentID, r) }

// probe reports an SMTP probe result of agentID to endpoint (host:port).
func (fl *simFleet) probe(agentID, endpoint string, fs ...*mxv1.Finding) {
	fl.Probe(agentID, endpoint, fs...)
}

func (fl *simFleet) input(incs []*mxv1.Incident) Input {
	in := Input{Now: fl.Now, Incidents: incs}
	for _, k := range sortedKeys(fl.Agents) {
		in.Agents = append(in.Agents, fl.Agents[k])
	}
	for _, r := range fl.Results {
		in.Results = append(in.Results, r)
	}
	return in
}

// endpointFinding is what diagnose.SMTPProbe emits for a failing probe.
func endpointFinding(code finding.Code, endpoint string, sev mxv1.Severity) *mxv1.Finding {
	return fleetsim.EndpointFinding(code, endpoint, sev)
}

// storeCertFinding is what certdiag.CertStore emits for a store certificate.
func storeCertFinding(code finding.Code, sev mxv1.Severity, tp, subject, issuer, host string, notAfter time.Time) *mxv1.Finding {
	return fleetsim.StoreCertFinding(code, sev, tp, subject, issuer, host, notAfter)
}

// flowFinding is what the protocol-log/queue rules emit for a send failure
// to Exchange Online (no local cause linked).
func flowFinding(code finding.Code, connector, remoteName string) *mxv1.Finding {
	return fleetsim.FlowFinding(code, connector, remoteName)
}

// seedEdgeResults runs the real agent checks over the seed incident's
// evidence on host: the store with the keyless duplicate (the expired
// certificate of the lab seed store removed, so the store holds exactly the
// seed's two certificates), the Edge inventory, the send protocol log with
// NoCredentials for the keyless thumbprint, and the queue to Exchange
// Online stuck with the seed's LastError.
func seedEdgeResults(t testing.TB, host string) (keyless string, results []*mxv1.CheckResult) {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seed, err := lab.WriteSeedStore(filepath.Join(dir, "store"), ca, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{seed.Expired.CertFile, seed.Expired.KeyFile} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	inv := filepath.Join(dir, "exchange-inventory.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(seed.Good.Cert, seed.Good.Thumbprint)); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "ProtocolLog")
	var sessions []checktest.Session
	for range 3 {
		sessions = append(sessions, checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: seed.KeylessDuplicate.Thumbprint, Failure: "NoCredentials"})
	}
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(sessions...)); err != nil {
		t.Fatal(err)
	}
	qf, err := checktest.WriteFile(dir, "queues.json", checktest.QueueJSON(`EDGE02\3`, "tenant.mail.onmicrosoft.com", 17, checktest.SeedLastError))
	if err != nil {
		t.Fatal(err)
	}
	b, err := checks.NewBuilder(checks.Spec{CertStores: []string{"pemdir:" + seed.Dir}, ExchangeInventory: inv, ProtocolLogs: []string{logs},
		QueueFile: qf, Diagnose: certdiag.Options{Host: host}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := b.All()
	if err != nil {
		t.Fatal(err)
	}
	return seed.KeylessDuplicate.Thumbprint, checks.RunAll(context.Background(), cs, 4)
}

// run correlates the fleet at its current time against stored incidents
// and applies the output like the FSM does (compare-and-set on sequence).
func (fl *simFleet) run(t testing.TB, cfg Config, stored map[string]*mxv1.Incident) Output {
	t.Helper()
	var incs []*mxv1.Incident
	for _, k := range sortedKeys(stored) {
		incs = append(incs, stored[k])
	}
	out := Correlate(fl.input(incs), cfg)
	for _, u := range out.Upserts {
		old := stored[u.GetId()]
		if u.GetRevision() != old.GetRevision()+1 {
			t.Fatalf("upsert %s at revision %d, stored %d", u.GetId(), u.GetRevision(), old.GetRevision())
		}
		// The sequence moves by one on a material change, else not at all.
		if want := old.GetSequence() + 1; incident.Material(old, u) && u.GetSequence() != want || !incident.Material(old, u) && u.GetSequence() != old.GetSequence() {
			t.Fatalf("upsert %s at sequence %d, stored %d (material: %v)", u.GetId(), u.GetSequence(), old.GetSequence(), incident.Material(old, u))
		}
		stored[u.GetId()] = u
	}
	for _, d := range out.Deletes {
		delete(stored, d.GetId())
	}
	return out
}

// open lists the non-pending incidents, by id.
func open(stored map[string]*mxv1.Incident) []*mxv1.Incident {
	var out []*mxv1.Incident
	for _, k := range sortedKeys(stored) {
		if s := stored[k].GetState(); s == mxv1.IncidentState_INCIDENT_STATE_OPEN || s == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			out = append(out, stored[k])
		}
	}
	return out
}

// immediate opens on the first observation (damping tested separately).
var immediate = Config{OpenAfterObservations: 1, ResolveAfterClean: 1}

func dump(incs []*mxv1.Incident) string {
	s := ""
	for _, i := range incs {
		s += fmt.Sprintf("  %s %s %s cause=%s subject=%q hosts=%v sites=%v members=%d dir=%s\n    %s\n", i.GetId(), i.GetState(), i.GetScope(), i.GetCause(), i.GetSubject(), i.GetHosts(), i.GetSites(), i.GetMembersTotal(), i.GetDirection(), i.GetSummary())
	}
	return s
}
