package renewal

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/lab"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func issue(t testing.TB, ca *lab.CA, notAfter time.Time) *lab.Issued {
	return renewaltest.Issue(t, ca, now, notAfter)
}

// edge is what a hybrid Edge server's agent reports (renewaltest.Edge).
func edge(t testing.TB, id, site, name string, current *lab.Issued, lastSeen time.Time, alsoInStore ...*lab.Issued) (*mxv1.Agent, *mxv1.CheckResultRecord) {
	t.Helper()
	h, res := renewaltest.Edge(t, id, site, name, current, alsoInStore...)
	a := &mxv1.Agent{AgentId: id, Site: site, Hostname: h.GetHostname(), Roles: h.GetRoles(), LastSeen: timestamppb.New(lastSeen)}
	return a, &mxv1.CheckResultRecord{AgentId: id, Site: site, Hostname: a.Hostname, CommittedAt: timestamppb.New(lastSeen), Result: res}
}

type fleet struct {
	contoso, fabrikam *lab.CA
	old               *lab.Issued
	agents            []*mxv1.Agent
	results           []*mxv1.CheckResultRecord
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	p := renewaltest.NewPKI(t, now, now.AddDate(0, 0, 20))
	fl := &fleet{contoso: p.Contoso, fabrikam: p.Fabrikam, old: p.Old}
	for _, e := range []struct{ id, site, name string }{{"edge01", "amsterdam", "EDGE01"}, {"edge02", "berlin", "EDGE02"}} {
		a, r := edge(t, e.id, e.site, e.name, fl.old, now.Add(-time.Minute))
		fl.agents, fl.results = append(fl.agents, a), append(fl.results, r)
	}
	return fl
}

func (fl *fleet) run(t *testing.T, n *lab.Issued, site string) *mxv1.PreflightCertificateResponse {
	t.Helper()
	resp, err := Run(Request{Agents: fl.agents, Results: fl.results, Site: site, New: contentsOf(n), NewFile: "new.pfx", Now: now, StaleAfter: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// contentsOf is n as read from a PFX with its key.
func contentsOf(n *lab.Issued) certstore.Contents {
	c := certstore.Contents{Location: "files:new.pfx", Certificates: []certstore.Certificate{{Thumbprint: n.Thumbprint(), Cert: n.Cert, HasPrivateKey: true, Key: certstore.KeyUsable}}}
	for _, x := range n.Chain {
		c.Certificates = append(c.Certificates, certstore.Certificate{Thumbprint: "CA", Cert: x})
	}
	return c
}

func fleetCheck(resp *mxv1.PreflightCertificateResponse, id string) *mxv1.PreflightCheck {
	for _, c := range resp.GetFleetChecks() {
		if c.GetId() == id {
			return c
		}
	}
	return nil
}

// A renewal from the same CA with the same subject, imported on every
// Edge server: each server's connectors keep working and the hybrid rule
// holds; imported on one site only, the other Edge keeps a certificate
// with the same issuer and subject, which is still fine.
func TestSameIdentityRenewalWorksEverywhere(t *testing.T) {
	fl := newFleet(t)
	n := issue(t, fl.contoso, now.AddDate(1, 0, 0))
	for _, site := range []string{"", "amsterdam"} {
		resp := fl.run(t, n, site)
		if resp.GetBreaks() {
			t.Fatalf("site %q: breaks: %v", site, resp)
		}
		hc := fleetCheck(resp, CheckHybridEdges)
		if hc == nil || hc.GetStatus() != "pass" || !strings.Contains(hc.GetSummary(), "all 2 hybrid Edge servers") {
			t.Errorf("site %q: hybrid check %v", site, hc)
		}
		for _, a := range resp.GetAgents() {
			if a.GetStatus() != StatusPredicted || len(a.GetConnectors()) == 0 {
				t.Errorf("site %q: %s: %v", site, a.GetAgentId(), a)
			}
			for _, c := range a.GetConnectors() {
				if c.GetOutcome() != "works" && c.GetOutcome() != "fixed" {
					t.Errorf("site %q: %s %s: %s %v", site, a.GetAgentId(), c.GetName(), c.GetOutcome(), c.GetCodes())
				}
			}
		}
	}
	if resp := fl.run(t, n, "amsterdam"); len(resp.GetAgents()) != 1 || resp.GetAgents()[0].GetAgentId() != "edge01" {
		t.Errorf("site filter: %v", resp.GetAgents())
	}
}

// A certificate from another CA imported on one site's Edge only: the other
// Edge keeps the old issuer, which hybrid does not allow; the remediation
// names the server to import it on and the identity to reissue with.
func TestOtherIssuerOnSomeEdgesBreaksHybrid(t *testing.T) {
	fl := newFleet(t)
	n := issue(t, fl.fabrikam, now.AddDate(1, 0, 0))
	resp := fl.run(t, n, "amsterdam")
	if !resp.GetBreaks() {
		t.Fatal("does not break")
	}
	hc := fleetCheck(resp, CheckHybridEdges)
	if hc == nil || hc.GetStatus() != "fail" {
		t.Fatalf("hybrid check: %v", hc)
	}
	oldID := exchange.TLSCertificateNameFor(fl.old.Cert).String()
	if !strings.Contains(hc.GetSummary(), "edge02.contoso.com (keeps it: not in the import)") || !strings.Contains(hc.GetSummary(), oldID) {
		t.Errorf("summary: %s", hc.GetSummary())
	}
	if !strings.Contains(hc.GetDetail(), "import the new certificate on edge02.contoso.com too") ||
		!strings.Contains(hc.GetDetail(), "reissued with the issuer and subject the other Edge servers use (TlsCertificateName "+oldID+")") {
		t.Errorf("remediation: %s", hc.GetDetail())
	}
}

// An agent not seen for longer than the stale threshold is shown stale,
// never "works"; an agent without an inventory is listed as such, and an
// Edge agent without one makes the hybrid rule say what it cannot check.
func TestStaleAndMissingReportsAreNotWorks(t *testing.T) {
	fl := newFleet(t)
	fl.agents[1].LastSeen = timestamppb.New(now.Add(-time.Hour))
	fl.agents = append(fl.agents, &mxv1.Agent{AgentId: "edge03", Site: "berlin", Hostname: "edge03", Roles: []mxv1.Role{mxv1.Role_ROLE_EDGE}, LastSeen: timestamppb.New(now)})
	resp := fl.run(t, issue(t, fl.contoso, now.AddDate(1, 0, 0)), "")
	got := map[string]*mxv1.PreflightAgent{}
	for _, a := range resp.GetAgents() {
		got[a.GetAgentId()] = a
	}
	if got["edge02"].GetStatus() != StatusStale {
		t.Fatalf("edge02: %v", got["edge02"])
	}
	for _, c := range got["edge02"].GetConnectors() {
		if c.GetOutcome() != OutcomeStale || c.GetPredictedOutcome() != "works" {
			t.Errorf("stale connector %s: %s (predicted %s)", c.GetName(), c.GetOutcome(), c.GetPredictedOutcome())
		}
	}
	if got["edge03"].GetStatus() != StatusNoInventory || len(got["edge03"].GetConnectors()) != 0 {
		t.Errorf("edge03: %v", got["edge03"])
	}
	var warned bool
	for _, c := range resp.GetFleetChecks() {
		warned = warned || c.GetStatus() == "warn" && strings.Contains(c.GetSummary(), "edge03")
	}
	if !warned {
		t.Errorf("no warning about edge03: %v", resp.GetFleetChecks())
	}
	// A listing without DER (an older agent) is no inventory, not a prediction.
	fl.results[0].Result.Certificates[0].Der = nil
	resp = fl.run(t, issue(t, fl.contoso, now.AddDate(1, 0, 0)), "amsterdam")
	if a := resp.GetAgents()[0]; a.GetStatus() != StatusNoInventory || !strings.Contains(a.GetDetail(), "DER") {
		t.Errorf("listing without DER: %v", a)
	}
}

// One hybrid Edge server whose connectors would find no certificate after
// the change: the hybrid rule fails saying so, not that servers differ.
func TestSingleEdgeLeftWithoutCertificate(t *testing.T) {
	fl := newFleet(t)
	fl.agents, fl.results = fl.agents[:1], fl.results[:1]
	resp := fl.run(t, issue(t, fl.fabrikam, now.AddDate(1, 0, 0)), "")
	hc := fleetCheck(resp, CheckHybridEdges)
	if !resp.GetBreaks() || hc == nil || hc.GetStatus() != "fail" || !strings.Contains(hc.GetSummary(), "select no certificate: edge01.contoso.com") || strings.Contains(hc.GetSummary(), "differ") {
		t.Errorf("hybrid check: %v", hc)
	}
}
