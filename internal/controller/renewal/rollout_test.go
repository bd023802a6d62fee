package renewal

import (
	"strings"
	"testing"
	"time"
)

// Before the change no server holds the new certificate: every agent is
// not-imported and the rollout check says the change has not started.
func TestRolloutBeforeTheChange(t *testing.T) {
	fl := newFleet(t)
	resp := fl.run(t, issue(t, fl.contoso, now.AddDate(1, 0, 0)), "")
	for _, a := range resp.GetAgents() {
		if a.GetRollout() != RolloutNotImported {
			t.Errorf("%s: rollout %q", a.GetAgentId(), a.GetRollout())
		}
	}
	if c := fleetCheck(resp, CheckRollout); c == nil || c.GetStatus() != "info" || !strings.Contains(c.GetSummary(), "no server holds the new certificate yet (2 servers evaluated") {
		t.Errorf("rollout check: %v", c)
	}
	if c := fleetCheck(resp, CheckHybridEdgesToday); c == nil || c.GetStatus() != "pass" {
		t.Errorf("hybrid today: %v", c)
	}
}

// Halfway through a rollout of a certificate from another CA: edge01
// switched to it (and the old one is gone), edge02 imported it but its
// connectors still select the old one, edge03 has not imported it. The
// rollout check names edge02 and edge03 as still on the old certificate;
// the hybrid rule on today's selections warns that the Edge servers
// differ, without counting as a break of the change; the prediction
// says the import everywhere ends with one identity.
func TestRolloutHalfwayNamesServersStillOnTheOld(t *testing.T) {
	fl := newFleet(t)
	n := issue(t, fl.fabrikam, now.AddDate(1, 0, 0))
	fl.agents, fl.results = nil, nil
	a1, r1 := edge(t, "edge01", "amsterdam", "EDGE01", n, now.Add(-time.Minute))
	a2, r2 := edge(t, "edge02", "amsterdam", "EDGE02", fl.old, now.Add(-time.Minute), n)
	a3, r3 := edge(t, "edge03", "berlin", "EDGE03", fl.old, now.Add(-time.Minute))
	fl.agents = append(fl.agents, a1, a2, a3)
	fl.results = append(fl.results, r1, r2, r3)
	resp := fl.run(t, n, "")
	got := map[string]string{}
	for _, a := range resp.GetAgents() {
		got[a.GetAgentId()] = a.GetRollout()
		if a.GetAgentId() == "edge02" && !strings.Contains(a.GetRolloutDetail(), fl.old.Thumbprint()) {
			t.Errorf("edge02 detail does not name the old certificate: %s", a.GetRolloutDetail())
		}
	}
	if got["edge01"] != RolloutSwitched || got["edge02"] != RolloutOldInUse || got["edge03"] != RolloutNotImported {
		t.Fatalf("rollout: %v", got)
	}
	c := fleetCheck(resp, CheckRollout)
	if c == nil || c.GetStatus() != "warn" || !strings.Contains(c.GetSummary(), "on 2 of 3 servers") ||
		!strings.Contains(c.GetSummary(), "edge02.contoso.com (imported, but still on the old certificate") ||
		!strings.Contains(c.GetSummary(), "edge03.contoso.com (not imported)") || strings.Contains(c.GetSummary(), "edge01.contoso.com (") {
		t.Errorf("rollout check: %v", c)
	}
	today := fleetCheck(resp, CheckHybridEdgesToday)
	if today == nil || today.GetStatus() != "warn" || !strings.Contains(today.GetSummary(), "edge01.contoso.com") {
		t.Errorf("hybrid today: %v", today)
	}
	// Once every server reports the new certificate selected: switched everywhere.
	fl.agents, fl.results = nil, nil
	for _, e := range [][3]string{{"edge01", "amsterdam", "EDGE01"}, {"edge02", "amsterdam", "EDGE02"}} {
		a, r := edge(t, e[0], e[1], e[2], n, now.Add(-time.Minute))
		fl.agents, fl.results = append(fl.agents, a), append(fl.results, r)
	}
	resp = fl.run(t, n, "")
	if c := fleetCheck(resp, CheckRollout); c == nil || c.GetStatus() != "pass" {
		t.Errorf("after the rollout: %v", c)
	}
	if c := fleetCheck(resp, CheckHybridEdgesToday); c == nil || c.GetStatus() != "pass" {
		t.Errorf("hybrid today after the rollout: %v", c)
	}
}

// A site-scoped caller is told the hybrid rules saw its site only.
func TestSiteScopeIsStated(t *testing.T) {
	fl := newFleet(t)
	n := issue(t, fl.contoso, now.AddDate(1, 0, 0))
	req := Request{Agents: fl.agents[:1], Results: fl.results[:1], Scope: "amsterdam", New: contentsOf(n), NewFile: "new.pfx", Now: now, StaleAfter: 5 * time.Minute}
	resp, err := Run(req)
	if err != nil {
		t.Fatal(err)
	}
	if c := fleetCheck(resp, CheckSiteScope); c == nil || c.GetStatus() != "warn" || !strings.Contains(c.GetSummary(), "amsterdam") {
		t.Errorf("scope check: %v", c)
	}
	req.Scope = ""
	if resp, _ = Run(req); fleetCheck(resp, CheckSiteScope) != nil {
		t.Error("scope check without a scope")
	}
}
