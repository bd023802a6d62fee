package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/enroll"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/identity"
)

const bootstrapToken = "bootstrap-0123456789abcdef0123456789abcdef"

func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// serverTLS is how agents and API clients verify nodes: the cluster CA.
func (ca *testCA) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
}

func TestSecureClusterEnrollmentMTLSRevocationAndAPITokens(t *testing.T) {
	sc := newSecureCluster(t, 3)
	clusterCA, agentCA := sc.clusterCA, sc.agentCA
	l, f := sc.leaderAndFollower(t)
	ctx := t.Context()
	api := dialConn(t, f.n.GRPCAddr(), clusterCA.clientTLS())
	authc := mxv1.NewAuthServiceClient(api)
	ctl := mxv1.NewControllerServiceClient(api)

	// No token: refused. Bootstrap token (via a follower, forwarded): tokens created.
	if _, err := authc.ListTokens(ctx, &mxv1.ListTokensRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListTokens without a token: %v", err)
	}
	join, err := authc.CreateToken(bearer(ctx, bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Name: "ams-join", Site: "amsterdam", Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := authc.CreateToken(bearer(ctx, bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "grafana", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := authc.ListTokens(bearer(ctx, bootstrapToken), &mxv1.ListTokensRequest{})
	if err != nil || len(list.GetTokens()) != 2 || len(list.GetTokens()[0].GetSecretHash()) != 0 {
		t.Fatalf("ListTokens = %v, %v (no hashes may be returned)", list, err)
	}
	if _, err := authc.CreateToken(bearer(ctx, reader.GetSecret()), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "x", Scopes: []string{"admin"}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("read token created a token: %v", err)
	}
	if _, err := ctl.ListFindings(bearer(ctx, reader.GetSecret()), &mxv1.ListFindingsRequest{}); err != nil {
		t.Fatalf("read token cannot list findings: %v", err)
	}
	if _, err := ctl.ListFindings(bearer(ctx, join.GetSecret()), &mxv1.ListFindingsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("join token accepted by the API: %v", err)
	}

	// Enrollment through a follower; the join token is single-use.
	dir := t.TempDir()
	creds, err := enroll.Enroll(ctx, f.n.GRPCAddr(), clusterCA.clientTLS(), join.GetSecret(), "edge01", "edge01.contoso.test", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enroll.Enroll(ctx, f.n.GRPCAddr(), clusterCA.clientTLS(), join.GetSecret(), "edge99", "x", t.TempDir()); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("second enrollment with a single-use token: %v", err)
	}
	id, err := identity.Of(creds.Leaf())
	if err != nil || id.AgentID != "edge01" || id.Site != "amsterdam" {
		t.Fatalf("identity %+v %v", id, err)
	}

	agentConn := func(cfg *tls.Config) mxv1.AgentServiceClient {
		return mxv1.NewAgentServiceClient(dialConn(t, l.n.GRPCAddr(), cfg))
	}
	// The enrolled agent streams; its site comes from the certificate.
	st, w := connect(t, agentConn(creds.ClientTLS(clusterCA.clientTLS(), l.n.GRPCAddr())), "edge01")
	_ = w
	sendBatch(t, st, 1, "CERT_NO_PRIVATE_KEY")
	if a := l.n.Store().State().Agent("edge01"); a.GetSite() != "amsterdam" {
		t.Fatalf("agent site %q, want amsterdam from the certificate", a.GetSite())
	}
	// Over its batch rate (default 5/s, burst 20) an agent replaying a
	// backlog is slowed, not cut: 30 pipelined batches are all acknowledged,
	// the 11 beyond the burst at the rate.
	startReplay := time.Now()
	for seq := uint64(2); seq <= 31; seq++ {
		b := &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s", Status: mxv1.CheckStatus_CHECK_STATUS_OK}}}
		if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err != nil {
			t.Fatal(err)
		}
	}
	for acked := uint64(1); acked < 31; {
		m, err := st.Recv()
		if err != nil || m.GetAck().GetSeq() <= acked || m.GetAck().GetSeq() > 31 {
			t.Fatalf("replay over the batch rate: answer %v, %v after ack %d; want an Ack of %d..31", m, err, acked, acked+1)
		}
		acked = m.GetAck().GetSeq()
	}
	if d := time.Since(startReplay); d < 1500*time.Millisecond {
		t.Fatalf("30 batches acknowledged in %s: the rate limit (11 over the burst at 5/s: 2.2 s) did not hold them", d)
	}

	refused := func(name string, cfg *tls.Config, agentID string, want ...codes.Code) {
		t.Helper()
		s, err := agentConn(cfg).Connect(ctx)
		if err == nil {
			_ = s.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: agentID}}})
			_, err = s.Recv()
		}
		for _, c := range want {
			if status.Code(err) == c {
				return
			}
		}
		t.Errorf("%s: %v, want one of %v", name, err, want)
	}
	refused("claims another agent's id", creds.ClientTLS(clusterCA.clientTLS(), l.n.GRPCAddr()), "edge02", codes.PermissionDenied)
	refused("no client certificate", clusterCA.clientTLS(), "edge01", codes.Unauthenticated)
	nodeCert := clusterCA.mutual(t, "c7").Client.Clone()
	nodeCert.InsecureSkipVerify, nodeCert.VerifyConnection, nodeCert.RootCAs = false, nil, clusterCA.pool
	refused("certificate from another CA (the cluster's)", nodeCert, "edge01", codes.Unauthenticated)
	otherCA, _ := pki.Generate("rogue agent CA", time.Hour)
	refused("certificate from a rogue agent CA", certFrom(t, otherCA, clusterCA, time.Now(), time.Hour), "edge01", codes.Unavailable, codes.Unauthenticated)
	refused("expired agent certificate", certFrom(t, agentCA, clusterCA, time.Now().Add(-3*time.Hour), time.Hour), "edge01", codes.Unavailable, codes.Unauthenticated)

	// The agent's own renewal (Renew, unary, on the gRPC port of a
	// follower) replaces its certificate: same identity, a new serial.
	before := creds.Leaf()
	time.Sleep(time.Second) // the serial carries the issue time (seconds)
	if err := creds.Renew(ctx, func() (*grpc.ClientConn, error) {
		return grpc.NewClient(f.n.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS(clusterCA.clientTLS(), f.n.GRPCAddr()))))
	}); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if after, err := identity.Of(creds.Leaf()); err != nil || after.AgentID != "edge01" || after.Site != "amsterdam" || creds.Leaf().SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Fatalf("renewed certificate: %+v %v (serial %v, was %v)", after, err, creds.Leaf().SerialNumber, before.SerialNumber)
	}

	// Revocation cuts the live stream within seconds.
	recvErr := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				recvErr <- err
				return
			}
		}
	}()
	start := time.Now()
	if _, err := authc.RevokeAgent(bearer(ctx, bootstrapToken), &mxv1.RevokeAgentRequest{AgentId: "edge01"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-recvErr:
		t.Logf("revoked agent's stream ended after %s: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("revoked agent's stream still open after 5s")
	}
	refused("revoked agent reconnects", creds.ClientTLS(clusterCA.clientTLS(), l.n.GRPCAddr()), "edge01", codes.PermissionDenied)

	// REST is HTTPS with the node's certificate, and needs a token too.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()}}
	get := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+f.n.HTTPAddr()+"/v1/agents", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Fatalf("REST without token: %d", code)
	}
	if code := get(reader.GetSecret()); code != http.StatusOK {
		t.Fatalf("REST with read token: %d", code)
	}
	if resp, err := hc.Get("https://" + f.n.HTTPAddr() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz must stay open: %v", err)
	}

	// A raft peer without the cluster certificate is refused at the handshake.
	rogue := newTestCA(t).mutual(t, "rogue")
	if err := raftHandshake(f.cfg.RaftListen, rogue.Client); err == nil {
		t.Fatal("follower's raft port accepted a certificate from another CA")
	}
	if err := raftHandshake(f.cfg.RaftListen, noCertClient()); err == nil {
		t.Fatal("follower's raft port accepted a client without certificate")
	}
	if err := raftHandshake(f.cfg.RaftListen, clusterCA.mutual(t, "c9").Client); err != nil {
		t.Fatalf("a cluster certificate was refused: %v", err)
	}
	// ClusterService (join, info) refuses callers without a cluster certificate.
	_, err = mxv1.NewClusterServiceClient(dialConn(t, f.n.GRPCAddr(), clusterCA.clientTLS())).Join(ctx,
		&mxv1.JoinRequest{Node: &mxv1.NodeInfo{NodeId: "evil", RaftAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:2"}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("join without cluster certificate: %v", err)
	}
}

// certFrom makes an agent certificate for edge01 signed by ca, issued at
// `at` for ttl, with a client TLS config trusting the cluster CA.
func certFrom(t *testing.T, ca *pki.CA, clusterCA *testCA, at time.Time, ttl time.Duration) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	chain, err := ca.Sign(csr, identity.Identity{AgentID: "edge01", Site: "amsterdam"}, ttl, at)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clusterCA.clientTLS()
	cfg.Certificates = []tls.Certificate{{Certificate: chain, PrivateKey: key}}
	return cfg
}
