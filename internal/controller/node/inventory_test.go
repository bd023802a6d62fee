package node

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
)

// helloAt connects an agent of a given site.
func helloAt(t *testing.T, c mxv1.AgentServiceClient, id, site string) mxv1.AgentService_ConnectClient {
	t.Helper()
	st, err := c.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: id, Site: site, Hostname: id + ".contoso.com"}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("hello %s: %v %v", id, m, err)
	}
	return st
}

func sendResults(t *testing.T, st mxv1.AgentService_ConnectClient, seq uint64, results ...*mxv1.CheckResult) {
	t.Helper()
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: seq, Results: results}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetAck().GetSeq() != seq {
		t.Fatalf("batch %d: %v %v", seq, m, err)
	}
}

const (
	caDN     = "CN=Contoso Issuing CA 01,O=Contoso,C=NL"
	mailDN   = "CN=mail.contoso.com,O=Contoso,C=NL"
	legacyCA = "CN=Fabrikam Legacy CA"
	legacyDN = "CN=smtp.fabrikam.com"
)

// certEvidence is what internal/certdiag reports for a certificate.
func certEvidence(tp, subject, issuer string, notAfter time.Time, extra map[string]string) map[string]string {
	ev := map[string]string{
		"thumbprint": tp, "subject": subject, "issuer": issuer, "serial": "1F" + tp[:6],
		"not_before": notAfter.Add(-365 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"not_after":  notAfter.UTC().Format(time.RFC3339), "dns_names": strings.ToLower(strings.TrimPrefix(strings.Split(subject, ",")[0], "CN=")),
	}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

func certFinding(code string, sev mxv1.Severity, ev map[string]string) *mxv1.Finding {
	return &mxv1.Finding{Code: code, Severity: sev, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Subject: ev["thumbprint"],
		Summary: code + " " + ev["thumbprint"], Evidence: ev}
}

type restInstallation struct {
	Host       string `json:"host"`
	Site       string `json:"site"`
	AgentID    string `json:"agentId"`
	Origin     string `json:"origin"`
	Store      string `json:"store"`
	Endpoint   string `json:"endpoint"`
	PrivateKey string `json:"privateKey"`
	KeyStatus  string `json:"keyStatus"`
}

type restCertificate struct {
	Thumbprint        string             `json:"thumbprint"`
	Subject           string             `json:"subject"`
	NotAfter          time.Time          `json:"notAfter"`
	Severity          string             `json:"severity"`
	Codes             []string           `json:"codes"`
	DNSNames          []string           `json:"dnsNames"`
	Installations     []restInstallation `json:"installations"`
	MissingPrivateKey bool               `json:"missingPrivateKey"`
}

type restIdentity struct {
	Issuer             string            `json:"issuer"`
	Subject            string            `json:"subject"`
	TLSCertificateName string            `json:"tlsCertificateName"`
	SoonestNotAfter    time.Time         `json:"soonestNotAfter"`
	Severity           string            `json:"severity"`
	Duplicate          bool              `json:"duplicate"`
	Certificates       []restCertificate `json:"certificates"`
}

func listCertificates(t *testing.T, base, query string) []restIdentity {
	t.Helper()
	var r struct {
		Identities []restIdentity `json:"identities"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, base+"/v1/certificates"+query, 200)), &r); err != nil {
		t.Fatal(err)
	}
	return r.Identities
}

// thumbprints lists identity subjects and their certificates' thumbprints,
// in answer order: "subject: tp tp | subject: tp".
func thumbprints(ids []restIdentity) string {
	var parts []string
	for _, g := range ids {
		s := g.Subject + ":"
		for _, c := range g.Certificates {
			s += " " + c.Thumbprint
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// Two Exchange servers in two sites report certificate findings: the
// renewed mail.contoso.com certificate is installed on both, the old one
// of the same identity is still in ex01's store without its key (duplicate
// identity), and ex02's probe sees an expired certificate presented by a
// partner. GET /v1/certificates groups them by identity with every
// installation, soonest expiry first, and filters; GET /v1/sites counts
// agents, stale agents and unresolved incidents per site.
func TestRESTCertificateInventoryAndSites(t *testing.T) {
	nodes := newCluster(t, 1, nil, fastCorrelation, func(c *Config) {
		// Agents are stale after 3 intervals: 3s.
		c.Plan = ingest.Plan{Interval: time.Second}
	})
	n := leader(t, nodes).n
	base := "http://" + n.HTTPAddr()
	c := dial(t, n.GRPCAddr())
	now := time.Now().UTC().Truncate(time.Second)

	// ex03 (london) says hello and then stays silent: stale after 3s.
	silent := helloAt(t, c, "ex03", "london")
	silentSince := time.Now()
	defer silent.CloseSend()

	const (
		tpOld     = "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344"
		tpRenewed = "B79D5E0F11223344556677889900AABBCCDDEEFF"
		tpPartner = "C0FFEE0011223344556677889900AABBCCDDEEFF"
	)
	myStore := `Cert:\LocalMachine\My`
	oldEv := certEvidence(tpOld, mailDN, caDN, now.Add(200*24*time.Hour), map[string]string{"origin": "store", "store": myStore, "has_private_key": "false", "key_status": "absent"})
	// The renewed certificate is in both servers' stores.
	renewed := func() map[string]string {
		return certEvidence(tpRenewed, mailDN, caDN, now.Add(10*24*time.Hour), map[string]string{"origin": "store", "store": myStore, "has_private_key": "true", "key_status": "usable", "expires_in_days": "10"})
	}
	partnerEv := certEvidence(tpPartner, legacyDN, legacyCA, now.Add(-5*24*time.Hour), map[string]string{"origin": "presented", "endpoint": "smtp.fabrikam.com:25"})
	identity := "<I>" + caDN + "<S>" + mailDN
	ex01Results := []*mxv1.CheckResult{{Check: "certstore", Target: myStore, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{
		certFinding("CERT_NO_PRIVATE_KEY", mxv1.Severity_SEVERITY_CRITICAL, oldEv),
		certFinding("CERT_EXPIRING", mxv1.Severity_SEVERITY_ERROR, renewed()),
		{Code: "CERT_DUPLICATE_IDENTITY", Severity: mxv1.Severity_SEVERITY_ERROR, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, Subject: identity,
			Summary: "2 certificates share issuer and subject", Evidence: map[string]string{"store": myStore, "thumbprints": tpOld + "," + tpRenewed, "issuer": caDN, "subject": mailDN, "without_usable_key": tpOld}},
	}}}
	ex02Results := []*mxv1.CheckResult{
		{Check: "certstore", Target: myStore, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{
			certFinding("CERT_EXPIRING", mxv1.Severity_SEVERITY_ERROR, renewed()),
		}},
		{Check: "smtp", Target: "smtp://smtp.fabrikam.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, Findings: []*mxv1.Finding{
			certFinding("CERT_EXPIRED", mxv1.Severity_SEVERITY_CRITICAL, partnerEv),
		}},
	}
	ex01 := helloAt(t, c, "ex01", "amsterdam")
	ex02 := helloAt(t, c, "ex02", "london")
	sendResults(t, ex01, 1, ex01Results...)
	sendResults(t, ex02, 1, ex02Results...)

	// The whole inventory: expired partner certificate first, then the
	// contoso identity (soonest: the renewed certificate, 10 days).
	all := listCertificates(t, base, "")
	if got, want := thumbprints(all), legacyDN+": "+tpPartner+" | "+mailDN+": "+tpRenewed+" "+tpOld; got != want {
		t.Fatalf("inventory order:\n got %s\nwant %s", got, want)
	}
	partner, contoso := all[0], all[1]
	if partner.Severity != "SEVERITY_CRITICAL" || partner.Duplicate || !partner.SoonestNotAfter.Equal(now.Add(-5*24*time.Hour)) {
		t.Errorf("partner identity = %+v", partner)
	}
	if in := partner.Certificates[0].Installations; len(in) != 1 || in[0] != (restInstallation{Host: "smtp.fabrikam.com", Site: "london", AgentID: "ex02", Origin: "presented", Endpoint: "smtp.fabrikam.com:25", PrivateKey: "PRIVATE_KEY_STATE_NOT_APPLICABLE"}) {
		t.Errorf("partner installations = %+v", in)
	}
	if contoso.TLSCertificateName != identity || !contoso.Duplicate || contoso.Severity != "SEVERITY_CRITICAL" || contoso.Issuer != caDN ||
		!contoso.SoonestNotAfter.Equal(now.Add(10*24*time.Hour)) {
		t.Errorf("contoso identity = %+v", contoso)
	}
	ren, old := contoso.Certificates[0], contoso.Certificates[1]
	if ren.Severity != "SEVERITY_ERROR" || strings.Join(ren.Codes, ",") != "CERT_EXPIRING" || ren.MissingPrivateKey || !ren.NotAfter.Equal(now.Add(10*24*time.Hour)) ||
		strings.Join(ren.DNSNames, ",") != "mail.contoso.com" {
		t.Errorf("renewed certificate = %+v", ren)
	}
	wantRen := []restInstallation{
		{Host: "ex01.contoso.com", Site: "amsterdam", AgentID: "ex01", Origin: "store", Store: myStore, PrivateKey: "PRIVATE_KEY_STATE_PRESENT", KeyStatus: "usable"},
		{Host: "ex02.contoso.com", Site: "london", AgentID: "ex02", Origin: "store", Store: myStore, PrivateKey: "PRIVATE_KEY_STATE_PRESENT", KeyStatus: "usable"},
	}
	if len(ren.Installations) != 2 || ren.Installations[0] != wantRen[0] || ren.Installations[1] != wantRen[1] {
		t.Errorf("renewed installations = %+v", ren.Installations)
	}
	if !old.MissingPrivateKey || old.Severity != "SEVERITY_CRITICAL" || len(old.Installations) != 1 || old.Installations[0].PrivateKey != "PRIVATE_KEY_STATE_MISSING" || old.Installations[0].Host != "ex01.contoso.com" {
		t.Errorf("old certificate = %+v", old)
	}

	// Filters.
	if got, want := thumbprints(listCertificates(t, base, "?expiring_within=720h")), legacyDN+": "+tpPartner+" | "+mailDN+": "+tpRenewed; got != want {
		t.Errorf("expiring_within=720h: got %s, want %s", got, want)
	}
	if got, want := thumbprints(listCertificates(t, base, "?expiringWithin=240h&stale=true")), legacyDN+": "+tpPartner+" | "+mailDN+": "+tpRenewed; got != want {
		t.Errorf("expiringWithin=240h: got %s, want %s", got, want)
	}
	if got, want := thumbprints(listCertificates(t, base, "?expiring_within=1h")), legacyDN+": "+tpPartner; got != want {
		t.Errorf("expiring_within=1h (expired only): got %s, want %s", got, want)
	}
	london := listCertificates(t, base, "?site=LONDON")
	if got, want := thumbprints(london), legacyDN+": "+tpPartner+" | "+mailDN+": "+tpRenewed; got != want {
		t.Errorf("site=london: got %s, want %s", got, want)
	} else if in := london[1].Certificates[0].Installations; len(in) != 1 || in[0].Host != "ex02.contoso.com" || london[1].Severity != "SEVERITY_ERROR" {
		t.Errorf("site=london keeps other installations or severity: %+v", london[1])
	}
	ex01Only := listCertificates(t, base, "?host=ex01.contoso.com&expiring_within=8760h")
	if got, want := thumbprints(ex01Only), mailDN+": "+tpRenewed+" "+tpOld; got != want {
		t.Errorf("host=ex01: got %s, want %s", got, want)
	} else if in := ex01Only[0].Certificates[0].Installations; len(in) != 1 || in[0].AgentID != "ex01" {
		t.Errorf("host=ex01 installations = %+v", in)
	}
	if got, want := thumbprints(listCertificates(t, base, "?host=smtp.fabrikam.com")), legacyDN+": "+tpPartner; got != want {
		t.Errorf("host=smtp.fabrikam.com: got %s, want %s", got, want)
	}
	if got := listCertificates(t, base, "?site=paris"); len(got) != 0 {
		t.Errorf("site=paris: %+v", got)
	}
	for _, q := range []string{"?expiring_within=-5h", "?expiring_within=soon", "?host=" + strings.Repeat("h", 300)} {
		httpGet(t, base+"/v1/certificates"+q, 400)
	}

	// Sites: wait for the correlator to open the incidents, then refresh
	// ex01 and ex02 once ex03 has been silent for longer than 3s.
	waitUntil(t, 10*time.Second, "incidents in both sites", func() bool {
		sites := map[string]bool{}
		for _, inc := range incidentsOf(n) {
			if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
				for _, s := range inc.GetSites() {
					sites[s] = true
				}
			}
		}
		return sites["amsterdam"] && sites["london"]
	})
	time.Sleep(time.Until(silentSince.Add(3*time.Second + 200*time.Millisecond)))
	sendResults(t, ex01, 2, ex01Results...)
	sendResults(t, ex02, 2, ex02Results...)
	wantOpen := map[string]int{}
	wantWorst := map[string]mxv1.Severity{}
	for _, inc := range incidentsOf(n) {
		st := inc.GetState()
		if st != mxv1.IncidentState_INCIDENT_STATE_OPEN && st != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			continue
		}
		for _, s := range inc.GetSites() {
			wantOpen[s]++
			wantWorst[s] = max(wantWorst[s], inc.GetSeverity())
		}
	}
	var sites struct {
		Sites []struct {
			Site          string `json:"site"`
			Agents        int    `json:"agents"`
			StaleAgents   int    `json:"staleAgents"`
			OpenIncidents int    `json:"openIncidents"`
			WorstSeverity string `json:"worstSeverity"`
		} `json:"sites"`
	}
	body := httpGet(t, base+"/v1/sites", 200)
	if err := json.Unmarshal([]byte(body), &sites); err != nil {
		t.Fatal(err)
	}
	if len(sites.Sites) != 2 || sites.Sites[0].Site != "amsterdam" || sites.Sites[1].Site != "london" {
		t.Fatalf("sites = %s", body)
	}
	ams, lon := sites.Sites[0], sites.Sites[1]
	if ams.Agents != 1 || ams.StaleAgents != 0 || ams.OpenIncidents != wantOpen["amsterdam"] || ams.WorstSeverity != "SEVERITY_CRITICAL" {
		t.Errorf("amsterdam = %+v, want 1 agent, 0 stale, %d open, CRITICAL (%s)", ams, wantOpen["amsterdam"], body)
	}
	if lon.Agents != 2 || lon.StaleAgents != 1 || lon.OpenIncidents != wantOpen["london"] || lon.WorstSeverity != wantWorst["london"].String() {
		t.Errorf("london = %+v, want 2 agents, 1 stale, %d open, %s (%s)", lon, wantOpen["london"], wantWorst["london"], body)
	}
	if wantWorst["amsterdam"] != mxv1.Severity_SEVERITY_CRITICAL || wantOpen["london"] == 0 {
		t.Errorf("incidents per site: open %v worst %v", wantOpen, wantWorst)
	}
	httpGet(t, base+"/v1/sites?stale=true", 200)
}
