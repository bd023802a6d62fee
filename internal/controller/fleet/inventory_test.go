package fleet

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func obs(agent, site, code string, sev mxv1.Severity, ev map[string]string) *mxv1.ObservedFinding {
	return &mxv1.ObservedFinding{AgentId: agent, Site: site, Hostname: agent + ".example", Finding: &mxv1.Finding{Code: code, Severity: sev, Subject: ev["thumbprint"], Evidence: ev}}
}

func TestBuildCertificatesGroupsDedupesAndFilters(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ev := func(tp, subj string, days int, extra ...string) map[string]string {
		m := map[string]string{"thumbprint": tp, "subject": subj, "issuer": "CN=CA", "not_after": now.Add(time.Duration(days) * 24 * time.Hour).Format(time.RFC3339)}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	inv := BuildCertificates([]*mxv1.ObservedFinding{
		obs("a1", "ams", "CERT_NO_PRIVATE_KEY", mxv1.Severity_SEVERITY_CRITICAL, ev("T1", "CN=x", 90, "origin", "store", "store", "My", "has_private_key", "false")),
		// The same certificate and store, another finding: one installation.
		obs("a1", "ams", "CERT_WEAK_KEY", mxv1.Severity_SEVERITY_WARNING, ev("T1", "CN=x", 90, "origin", "store", "store", "My", "has_private_key", "false")),
		obs("a2", "lon", "CERT_EXPIRING", mxv1.Severity_SEVERITY_WARNING, ev("T2", "CN=x", 20, "origin", "store", "store", "My", "has_private_key", "true")),
		obs("a2", "lon", "CERT_EXPIRED", mxv1.Severity_SEVERITY_CRITICAL, ev("T3", "CN=y", -1, "origin", "presented", "endpoint", "mx.partner.example:25")),
		obs("a1", "ams", "CERT_SELF_SIGNED", mxv1.Severity_SEVERITY_WARNING, map[string]string{"thumbprint": "T4", "subject": "CN=z", "issuer": "CN=z", "origin": "store", "store": "My"}),
		{AgentId: "a1", Finding: &mxv1.Finding{Code: "CERT_DUPLICATE_IDENTITY", Subject: IdentityName("CN=CA", "CN=x")}},
	})
	if len(inv.Identities) != 3 || inv.Identities[0].Subject != "CN=y" || inv.Identities[1].Subject != "CN=x" || inv.Identities[2].Subject != "CN=z" {
		t.Fatalf("identities out of expiry order: %+v", inv.Identities)
	}
	x := inv.Identities[1]
	if !x.Duplicate || x.Severity != mxv1.Severity_SEVERITY_CRITICAL || len(x.Certificates) != 2 || x.Certificates[0].Thumbprint != "T2" || !x.SoonestNotAfter().Equal(now.Add(20*24*time.Hour)) {
		t.Fatalf("identity x = %+v", x)
	}
	t1 := x.Certificates[1]
	if len(t1.Installations) != 1 || t1.Installations[0].Key != KeyMissing || !t1.MissingKey || len(t1.Codes) != 2 || t1.Codes[0] != "CERT_NO_PRIVATE_KEY" {
		t.Fatalf("T1 = %+v", t1)
	}
	if in := inv.Identities[0].Certificates[0].Installations[0]; in.Host != "mx.partner.example" || in.Key != KeyNotApplicable || in.Site != "lon" {
		t.Fatalf("presented installation = %+v", in)
	}
	if z := inv.Identities[2].Certificates[0]; z.HasNotAfter() || z.Installations[0].Key != KeyUnknown {
		t.Fatalf("undated T4 = %+v", z)
	}
	if len(inv.All) != 4 || inv.All[0].Thumbprint != "T3" || inv.All[3].Thumbprint != "T4" {
		t.Fatalf("all = %v", inv.All)
	}

	got := inv.Filter(CertificateFilter{ExpiringBy: now.Add(30 * 24 * time.Hour)})
	if len(got) != 2 || len(got[1].Certificates) != 1 || got[1].Certificates[0].Thumbprint != "T2" || got[1].Severity != mxv1.Severity_SEVERITY_WARNING {
		t.Fatalf("expiring filter = %+v", got)
	}
	got = inv.Filter(CertificateFilter{Site: "AMS"})
	if len(got) != 2 || got[0].Subject != "CN=x" || len(got[0].Certificates) != 1 || got[0].Certificates[0].Thumbprint != "T1" {
		t.Fatalf("site filter = %+v", got)
	}
	if len(inv.Identities[1].Certificates) != 2 {
		t.Fatal("Filter changed the inventory")
	}
}

func TestSites(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := func(ago time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-ago)) }
	agents := []*mxv1.Agent{
		{AgentId: "a1", Site: "ams", LastSeen: seen(time.Second)},
		{AgentId: "a2", Site: "ams", LastSeen: seen(time.Hour)},
		{AgentId: "a3", Site: "LON"},
		{AgentId: "a4", Site: "lon", LastSeen: seen(0)},
	}
	incs := []*mxv1.Incident{
		{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_ERROR, Sites: []string{"ams"}, Agents: []string{"a1", "a2"}},
		{State: mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED, Severity: mxv1.Severity_SEVERITY_CRITICAL, Agents: []string{"a4"}},
		{State: mxv1.IncidentState_INCIDENT_STATE_RESOLVED, Severity: mxv1.Severity_SEVERITY_CRITICAL, Sites: []string{"ams"}},
		{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_WARNING, Sites: []string{"par"}},
	}
	got := Sites(agents, incs, now, time.Minute)
	want := []Site{
		{Name: "ams", Agents: 2, StaleAgents: 1, OpenIncidents: 1, WorstSeverity: mxv1.Severity_SEVERITY_ERROR},
		{Name: "LON", Agents: 2, StaleAgents: 1, OpenIncidents: 1, WorstSeverity: mxv1.Severity_SEVERITY_CRITICAL},
		{Name: "par", OpenIncidents: 1, WorstSeverity: mxv1.Severity_SEVERITY_WARNING},
	}
	if len(got) != len(want) {
		t.Fatalf("sites = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("site %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Store listings bring in certificates no finding names, merge with the
// findings' installations of the same certificate, and mark missing keys;
// retired results are left out.
func TestListingsCompleteTheInventory(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	healthy := &mxv1.CertificateSummary{Thumbprint: "H1", Subject: "CN=relay", Issuer: "CN=CA", NotAfter: timestamppb.New(now.Add(400 * 24 * time.Hour)),
		HasPrivateKey: true, KeyStatus: "usable", Store: "My", DnsNames: []string{"relay.contoso.com"}}
	keyless := &mxv1.CertificateSummary{Thumbprint: "T1", Subject: "CN=x", Issuer: "CN=CA", NotAfter: timestamppb.New(now.Add(90 * 24 * time.Hour)), Store: "My", KeyStatus: "absent"}
	recs := []*mxv1.CheckResultRecord{
		{AgentId: "a1", Site: "ams", Hostname: "a1.example", Result: &mxv1.CheckResult{Check: "certstore", Certificates: []*mxv1.CertificateSummary{healthy, keyless}}},
		{AgentId: "a3", Site: "ams", Hostname: "a3.example", Retired: true, Result: &mxv1.CheckResult{Check: "certstore", Certificates: []*mxv1.CertificateSummary{{Thumbprint: "GONE", Subject: "CN=gone", Issuer: "CN=CA"}}}},
		{AgentId: "a1", Result: &mxv1.CheckResult{Check: "smtp_probe"}},
	}
	ls := Listings(recs)
	if len(ls) != 1 || ls[0].AgentID != "a1" || len(ls[0].Certificates) != 2 {
		t.Fatalf("listings %+v", ls)
	}
	ev := map[string]string{"thumbprint": "T1", "subject": "CN=x", "issuer": "CN=CA", "not_after": now.Add(90 * 24 * time.Hour).Format(time.RFC3339),
		"origin": "store", "store": "My", "has_private_key": "false"}
	inv := BuildCertificates([]*mxv1.ObservedFinding{obs("a1", "ams", "CERT_NO_PRIVATE_KEY", mxv1.Severity_SEVERITY_CRITICAL, ev)}, ls...)
	if len(inv.All) != 2 {
		t.Fatalf("%d certificates, want 2 (GONE is retired)", len(inv.All))
	}
	var h, x *Certificate
	for _, c := range inv.All {
		switch c.Thumbprint {
		case "H1":
			h = c
		case "T1":
			x = c
		}
	}
	if h == nil || h.Severity != mxv1.Severity_SEVERITY_UNSPECIFIED || len(h.Codes) != 0 || len(h.Installations) != 1 || h.Installations[0].Key != KeyPresent ||
		h.NotAfterText == "" || h.DNSNames[0] != "relay.contoso.com" {
		t.Fatalf("certificate without findings: %+v", h)
	}
	if x == nil || len(x.Installations) != 1 || !x.MissingKey || x.Severity != mxv1.Severity_SEVERITY_CRITICAL || x.Codes[0] != "CERT_NO_PRIVATE_KEY" {
		t.Fatalf("certificate with a finding and a listing: %+v", x)
	}
}
