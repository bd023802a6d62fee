package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/enroll"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/identity"
)

// counterValue reads one labelled counter from the node's registry (what
// /metrics serves).
func counterValue(t *testing.T, n *Node, name, label, value string) float64 {
	t.Helper()
	mfs, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not exposed", name, label, value)
	return 0
}

// createToken creates a token, again while leadership moves.
func createToken(t *testing.T, c mxv1.AuthServiceClient, req *mxv1.CreateTokenRequest) (*mxv1.CreateTokenResponse, error) {
	t.Helper()
	for range 20 {
		r, err := c.CreateToken(bearer(t.Context(), bootstrapToken), req)
		if status.Code(err) != codes.Unavailable {
			return r, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("creating token %s: no leader answered", req.GetName())
	return nil, nil
}

// counterSum adds a labelled counter over every running node (refusals
// are counted where they are decided: the leader of that moment).
func counterSum(t *testing.T, nodes []*testNode, name, label, value string) float64 {
	t.Helper()
	var sum float64
	for _, tn := range nodes {
		if tn.cancel != nil {
			sum += counterValue(t, tn.n, name, label, value)
		}
	}
	return sum
}

// resilientAgent streams batches to whichever node leads, reconnecting
// after NotLeader (the shared test machine can move leadership) and
// resending the batch, as the real agent does.
type resilientAgent struct {
	t      *testing.T
	nodes  []*testNode
	cfg    func(addr string) *tls.Config
	id     string
	site   string
	stream mxv1.AgentService_ConnectClient
}

func (a *resilientAgent) connect() {
	a.t.Helper()
	l := leader(a.t, a.nodes)
	a.stream = helloAt(a.t, mxv1.NewAgentServiceClient(dialConn(a.t, l.n.GRPCAddr(), a.cfg(l.n.GRPCAddr()))), a.id, a.site)
}

func (a *resilientAgent) send(seq uint64, code string) {
	a.t.Helper()
	b := &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s",
		Status:   mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: code, Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D0000"}}}}}
	for range 10 {
		if a.stream == nil {
			a.connect()
		}
		if err := a.stream.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err == nil {
			m, err := a.stream.Recv()
			if err == nil && m.GetAck().GetSeq() == seq {
				return
			}
			if err == nil && m.GetNotLeader() == nil {
				a.t.Fatalf("batch %d: answer %v, want Ack", seq, m)
			}
		}
		_ = a.stream.CloseSend()
		a.stream = nil
	}
	a.t.Fatalf("batch %d never acknowledged", seq)
}

// enrollOnce enrolls through addr, retrying while leadership moves
// (Unavailable), as agent run does.
func enrollOnce(t *testing.T, addr string, serverTLS *tls.Config, token, agentID, hostname string) (*enroll.Creds, error) {
	t.Helper()
	for range 20 {
		creds, err := enroll.Enroll(t.Context(), addr, serverTLS, token, agentID, hostname, t.TempDir())
		if status.Code(err) != codes.Unavailable {
			return creds, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("enrolling %s: no leader answered", agentID)
	return nil, nil
}

// signedAs is an agent certificate for (agentID, site) signed by the agent
// CA directly: what a takeover would hold if enrollment had let it through.
func signedAs(t *testing.T, ca *pki.CA, clusterCA *testCA, agentID, site string) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	chain, err := ca.Sign(csr, identity.Identity{AgentID: agentID, Site: site}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := clusterCA.clientTLS()
	cfg.Certificates = []tls.Certificate{{Certificate: chain, PrivateKey: key}}
	return cfg
}

// The cross-site takeover, against a real 3-node TLS cluster: a join token
// of site-b cannot enroll a00, which belongs to site-a; a certificate for
// a00 in site-b is refused at Hello; the attempts are counted; the real
// a00's batches keep being applied, in site-a. An admin's re-enrollment
// token is the way to enroll a00 again, and it retires the old certificate.
func TestCrossSiteTakeoverRefused(t *testing.T) {
	sc := newSecureCluster(t, 3)
	clusterCA, agentCA, nodes := sc.clusterCA, sc.agentCA, sc.nodes
	l, f := sc.leaderAndFollower(t)
	ctx := t.Context()
	authc := mxv1.NewAuthServiceClient(dialConn(t, f.n.GRPCAddr(), clusterCA.clientTLS()))
	joinToken := func(name, site string, uses int32) string {
		r, err := createToken(t, authc, &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Name: name, Site: site, Uses: uses})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetSecret()
	}
	siteA, siteB := joinToken("site-a", "site-a", 1), joinToken("site-b", "site-b", 5)

	real, err := enrollOnce(t, f.n.GRPCAddr(), clusterCA.clientTLS(), siteA, "a00", "a00.site-a.test")
	if err != nil {
		t.Fatal(err)
	}
	agentOn := func(cfg *tls.Config) mxv1.AgentServiceClient {
		return mxv1.NewAgentServiceClient(dialConn(t, leader(t, nodes).n.GRPCAddr(), cfg))
	}
	st := &resilientAgent{t: t, nodes: nodes, id: "a00", site: "site-a", cfg: func(addr string) *tls.Config { return real.ClientTLS(clusterCA.clientTLS(), addr) }}
	for seq := uint64(1); seq <= 3; seq++ {
		st.send(seq, "CERT_EXPIRED")
	}

	// The attack: a site-b join token enrolls --agent-id a00, through a
	// follower and on the leader.
	for _, addr := range []string{f.n.GRPCAddr(), l.n.GRPCAddr()} {
		_, err := enrollOnce(t, addr, clusterCA.clientTLS(), siteB, "a00", "attacker.site-b.test")
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("site-b token enrolling a00 via %s: %v, want PermissionDenied", addr, err)
		}
	}
	if got := counterSum(t, nodes, "mxprobe_agent_identity_refused_total", "reason", "enroll_id_exists"); got != 2 {
		t.Fatalf("refused takeovers counted %v, want 2", got)
	}
	// The token is not spent by the refusals: it still enrolls a new id of
	// its own site.
	if _, err := enrollOnce(t, f.n.GRPCAddr(), clusterCA.clientTLS(), siteB, "b00", "b00.site-b.test"); err != nil {
		t.Fatalf("site-b token enrolling b00: %v", err)
	}

	// Had the attacker a certificate for a00 in site-b, its Hello is refused.
	forged, err := agentOn(signedAs(t, agentCA, clusterCA, "a00", "site-b")).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "a00", Site: "site-b", Hostname: "attacker"}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := forged.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Hello{a00, site-b}: %v %v, want PermissionDenied", m, err)
	}
	if got := counterSum(t, nodes, "mxprobe_agent_identity_refused_total", "reason", "hello_site_mismatch"); got != 1 {
		t.Fatalf("refused Hellos counted %v, want 1", got)
	}

	// The real a00 is untouched: its next batch is applied, not taken for
	// a replay, and it is still in site-a with its hostname.
	st.send(4, "CERT_NO_PRIVATE_KEY")
	l = leader(t, nodes)
	a := l.n.Store().State().Agent("a00")
	if a.GetSite() != "site-a" || a.GetHostname() != "a00.contoso.com" || a.GetLastSeq() != 4 || a.GetBatchesCommitted() != 4 {
		t.Fatalf("a00 after the attack: site %q hostname %q last seq %d batches %d; want site-a, its own hostname, 4, 4",
			a.GetSite(), a.GetHostname(), a.GetLastSeq(), a.GetBatchesCommitted())
	}
	if fs := l.n.Store().State().Findings(storeFilter("a00")); len(fs) != 1 || fs[0].GetFinding().GetCode() != "CERT_NO_PRIVATE_KEY" || fs[0].GetSite() != "site-a" {
		t.Fatalf("a00's findings after the attack: %v", fs)
	}
	// The real a00 stays connected: the re-enrollment below must cut it.
	cut := make(chan error, 1)
	go func(stream mxv1.AgentService_ConnectClient) {
		for {
			if _, err := stream.Recv(); err != nil {
				cut <- err
				return
			}
		}
	}(st.stream)

	// The admin's way: a re-enrollment token for a00 (its site by default).
	if _, err := createToken(t, authc, &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_REENROLL, Name: "re-a99", AgentId: "a99"}); status.Code(err) != codes.NotFound {
		t.Fatalf("re-enrollment token for an unknown agent: %v", err)
	}
	re, err := createToken(t, authc, &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_REENROLL, Name: "re-a00", AgentId: "a00"})
	if err != nil || re.GetToken().GetSite() != "site-a" || re.GetToken().GetUsesLeft() != 1 {
		t.Fatalf("re-enrollment token: %v %v", re.GetToken(), err)
	}
	if _, err := enrollOnce(t, f.n.GRPCAddr(), clusterCA.clientTLS(), re.GetSecret(), "a01", "x"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a00's re-enrollment token enrolling a01: %v", err)
	}
	fresh, err := enrollOnce(t, f.n.GRPCAddr(), clusterCA.clientTLS(), re.GetSecret(), "a00", "a00.site-a.test")
	if err != nil {
		t.Fatalf("re-enrollment of a00: %v", err)
	}
	if id, _ := identity.Of(fresh.Leaf()); id.Site != "site-a" {
		t.Fatalf("re-enrolled identity %+v", id)
	}
	select {
	case err := <-cut:
		t.Logf("the superseded certificate's stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of the superseded certificate is still open 10 s after the re-enrollment")
	}
	// The certificate from before the re-enrollment no longer connects.
	old, err := agentOn(real.ClientTLS(clusterCA.clientTLS(), l.n.GRPCAddr())).Connect(ctx)
	if err == nil {
		_ = old.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "a00"}}})
		_, err = old.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("superseded certificate: %v, want PermissionDenied", err)
	}
	st2, err := agentOn(fresh.ClientTLS(clusterCA.clientTLS(), l.n.GRPCAddr())).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "a00"}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st2.Recv(); err != nil || (m.GetNotLeader() == nil && m.GetWelcome().GetLastCommittedSeq() != 4) {
		t.Fatalf("re-enrolled a00's Welcome: %v %v, want last committed seq 4 (its history kept)", m, err)
	}
	_ = st2.CloseSend()
	(&resilientAgent{t: t, nodes: nodes, id: "a00", site: "site-a", cfg: func(addr string) *tls.Config { return fresh.ClientTLS(clusterCA.clientTLS(), addr) }}).send(5, "CERT_EXPIRED")
}
