package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
)

// edges commits two hybrid Edge servers' connector check results (sites
// amsterdam and berlin) and returns their PKI.
func (tw *twin) edges(t *testing.T) *renewaltest.PKI {
	t.Helper()
	p := renewaltest.NewPKI(t, time.Now(), time.Now().AddDate(0, 0, 20))
	for i, e := range []struct{ id, site, name string }{{"edge01", "amsterdam", "EDGE01"}, {"edge02", "berlin", "EDGE02"}} {
		h, r := renewaltest.Edge(t, e.id, e.site, e.name, p.Old)
		if _, err := tw.store.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: h}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.store.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{
			{AgentId: e.id, Batch: &mxv1.ResultBatch{Seq: uint64(i + 1), Results: []*mxv1.CheckResult{r}}}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// The fleet pre-flight over REST and gRPC on a real one-node raft store:
// authenticated before the body is read; a PFX or a private key refused
// (the error quotes nothing of it); the public certificate with the
// statement where the key will be predicting the hybrid rule breaking when
// the certificate of another CA goes to one site's Edge only; site scopes
// applied; a follower forwarding to the leader; afterwards, the server
// still on the old certificate named; the upload bounded.
func TestPreflightCertificate(t *testing.T) {
	l := newTwin(t, twinConfig{secure: true})
	p := l.edges(t)
	read := l.token(t, "pki", "", "read")
	other := renewaltest.Issue(t, p.Fabrikam, time.Now(), time.Now().AddDate(1, 0, 0))
	cert := other.ChainPEM()
	body := func(cert []byte, ks, site string) string {
		return fmt.Sprintf(`{"certificate":%q,"keySource":%q,"fileName":"mail-2026.pfx","site":%q}`, base64.StdEncoding.EncodeToString(cert), ks, site)
	}

	if a := l.do(t, "POST", "/v1/preflight", nil, body(cert, "pfx", "")); a.code != 401 {
		t.Fatalf("without a token: %d %s", a.code, a.body)
	}
	// A PFX, and a PEM with its key: refused, nothing of them in the answer.
	key, _ := other.KeyPEM()
	for name, b := range map[string][]byte{"pfx": renewaltest.PFX(t, other, "s3cret-Pfx-pw"), "pem with key": append(other.ChainPEM(), key...)} {
		a := l.do(t, "POST", "/v1/preflight", map[string]string{"Authorization": read}, body(b, "pfx", ""))
		if a.code != 400 || !strings.Contains(a.body, "private key") || strings.Contains(a.body, "PRIVATE KEY-----") {
			t.Errorf("%s: %d %s", name, a.code, a.body)
		}
	}
	if a := l.do(t, "POST", "/v1/preflight", map[string]string{"Authorization": read}, body(cert, "", "")); a.code != 400 || !strings.Contains(a.body, "key_source") {
		t.Errorf("no key statement: %d %s", a.code, a.body)
	}
	a := l.do(t, "POST", "/v1/preflight", map[string]string{"Authorization": read}, body(cert, "pfx", "amsterdam"))
	if a.code != 200 {
		t.Fatalf("preflight: %d %s", a.code, a.body)
	}
	var resp struct {
		Breaks         bool `json:"breaks"`
		NewCertificate struct {
			Thumbprint string `json:"thumbprint"`
		} `json:"newCertificate"`
		Agents []struct {
			AgentID    string `json:"agentId"`
			Status     string `json:"status"`
			Rollout    string `json:"rollout"`
			Connectors []struct {
				Name, Outcome string
				Codes         []string
			} `json:"connectors"`
			Plan []struct{ Commands []string } `json:"plan"`
		} `json:"agents"`
		FleetChecks []struct{ ID, Status, Summary, Detail string } `json:"fleetChecks"`
	}
	if err := json.Unmarshal([]byte(a.body), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Breaks || resp.NewCertificate.Thumbprint != other.Thumbprint() || len(resp.Agents) != 1 || resp.Agents[0].AgentID != "edge01" ||
		resp.Agents[0].Status != "predicted" || resp.Agents[0].Rollout != "not-imported" {
		t.Fatalf("answer: %s", a.body)
	}
	var broken bool
	for _, c := range resp.Agents[0].Connectors {
		broken = broken || c.Outcome == "breaks"
	}
	if !broken {
		t.Errorf("no connector of edge01 breaks: %s", a.body)
	}
	var hybrid bool
	for _, c := range resp.FleetChecks {
		hybrid = hybrid || c.ID == "hybrid-edge-identity" && c.Status == "fail" && strings.Contains(c.Detail, "import the new certificate on edge02.contoso.com too")
	}
	if !hybrid {
		t.Errorf("no failing hybrid check naming edge02: %v", resp.FleetChecks)
	}

	// The same certificate everywhere over gRPC, as a DER .cer: both
	// servers, still broken (another CA: TlsCertificateName no longer
	// matches once the old one goes).
	g, err := l.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{Certificate: other.Cert.Raw, KeySource: "pfx", FileName: "mail.cer"})
	if err != nil || len(g.GetAgents()) != 2 || !g.GetBreaks() {
		t.Fatalf("fleet-wide: %v %v", g, err)
	}
	// A same-identity renewal: nothing breaks.
	same := renewaltest.Issue(t, p.Contoso, time.Now(), time.Now().AddDate(1, 0, 0))
	g, err = l.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{Certificate: same.ChainPEM(), KeySource: "pfx", FileName: "mail.pem"})
	if err != nil || g.GetBreaks() || len(g.GetAgents()) != 2 {
		t.Fatalf("same identity: %v %v", g, err)
	}

	// A berlin token sees berlin only, may not ask for amsterdam, and is
	// told the hybrid rules saw its site only.
	berlin := l.token(t, "berlin-pki", "berlin", "read")
	if _, err := l.ctl().PreflightCertificate(bearer(t.Context(), berlin), &mxv1.PreflightCertificateRequest{Certificate: cert, KeySource: "pfx", Site: "amsterdam"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("scoped token, other site: %v", err)
	}
	g, err = l.ctl().PreflightCertificate(bearer(t.Context(), berlin), &mxv1.PreflightCertificateRequest{Certificate: cert, KeySource: "pfx"})
	if err != nil || len(g.GetAgents()) != 1 || g.GetAgents()[0].GetAgentId() != "edge02" {
		t.Fatalf("scoped token: %v %v", g, err)
	}
	var scoped bool
	for _, c := range g.GetFleetChecks() {
		scoped = scoped || c.GetId() == "site-scope" && strings.Contains(c.GetSummary(), "berlin")
		if strings.Contains(c.GetSummary(), "edge01") {
			t.Errorf("a berlin token learns of amsterdam's edge01: %v", c)
		}
	}
	if !scoped {
		t.Errorf("no site-scope check: %v", g.GetFleetChecks())
	}
	// A follower forwards to the leader.
	f := l.follower(t, true)
	g, err = f.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{Certificate: cert, KeySource: "pfx"})
	if err != nil || len(g.GetAgents()) != 2 {
		t.Fatalf("through a follower: %v %v", g, err)
	}
	// Afterwards: edge01's agent reports the new certificate selected,
	// edge02's still the old one. The same upload names edge02 as still on
	// the old certificate, and the hybrid rule on today's selections warns.
	_, r := renewaltest.Edge(t, "edge01", "amsterdam", "EDGE01", other)
	if _, err := l.store.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{
		{AgentId: "edge01", Batch: &mxv1.ResultBatch{Seq: 3, Results: []*mxv1.CheckResult{r}}}}}}}); err != nil {
		t.Fatal(err)
	}
	g, err = l.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{Certificate: cert, KeySource: "pfx"})
	if err != nil {
		t.Fatal(err)
	}
	rollout := map[string]string{}
	for _, a := range g.GetAgents() {
		rollout[a.GetAgentId()] = a.GetRollout()
	}
	var behind, today bool
	for _, c := range g.GetFleetChecks() {
		behind = behind || c.GetId() == "rollout" && c.GetStatus() == "warn" && strings.Contains(c.GetSummary(), "still running the old certificate: edge02.contoso.com (not imported)")
		today = today || c.GetId() == "hybrid-edge-identity-today" && c.GetStatus() == "warn"
	}
	if rollout["edge01"] != "switched" || rollout["edge02"] != "not-imported" || !behind || !today {
		t.Errorf("afterwards: %v %v", rollout, g.GetFleetChecks())
	}
	// The upload is bounded: over REST by the body limit, over gRPC by
	// the pre-flight's own.
	if a := l.do(t, "POST", "/v1/preflight", map[string]string{"Authorization": read}, body(make([]byte, 2<<20), "pfx", "")); a.code != 413 {
		t.Fatalf("2 MiB upload: %d", a.code)
	}
	big := append(append([]byte{}, cert...), make([]byte, 300<<10)...)
	if _, err := l.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{Certificate: big, KeySource: "pfx"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("300 KiB upload: %v", err)
	}
	if _, err := l.ctl().PreflightCertificate(bearer(t.Context(), read), &mxv1.PreflightCertificateRequest{KeySource: "pfx"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no certificate: %v", err)
	}
}

// An answer over the limit is refused with how to split it.
func TestPreflightAnswerBound(t *testing.T) {
	resp := &mxv1.PreflightCertificateResponse{Agents: []*mxv1.PreflightAgent{{AgentId: "edge01", Detail: strings.Repeat("x", 2048)}}}
	if err := answerFits(resp, 4096); err != nil {
		t.Fatal(err)
	}
	err := answerFits(resp, 1024)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "run it per site") {
		t.Fatalf("over the bound: %v", err)
	}
}
