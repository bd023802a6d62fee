package agentport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // so a client can send compressed messages
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/agentport"
)

// pkiSet is a CA with a server certificate and an agent client certificate.
type pkiSet struct {
	pool   *x509.CertPool
	server tls.Certificate
	agent  tls.Certificate
	other  tls.Certificate // a client certificate the router does not take as an agent
}

func newPKI(t testing.TB) *pkiSet {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pkiSet{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	issue := func(cn string, usage x509.ExtKeyUsage, serial int64) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tm := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		d, err := x509.CreateCertificate(rand.Reader, tm, ca, &k.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{d}, PrivateKey: k}
	}
	p.server = issue("controller", x509.ExtKeyUsageServerAuth, 2)
	p.agent = issue("agent-edge01", x509.ExtKeyUsageClientAuth, 3)
	p.other = issue("node-c2", x509.ExtKeyUsageClientAuth, 4)
	return p
}

func isAgent(st *tls.ConnectionState) bool {
	return len(st.VerifiedChains) > 0 && strings.HasPrefix(st.PeerCertificates[0].Subject.CommonName, "agent-")
}

// session is a test Connect protocol: Hello -> Welcome (with as many probe
// targets as the Hello's "targets" label asks, to make large responses),
// batch -> Ack; seq 13 fails, seq 99 ends the call.
type session struct {
	closed chan struct{}
}

func (s *session) Handle(ctx context.Context, req proto.Message) (proto.Message, bool, error) {
	r := req.(*mxv1.ConnectRequest)
	if h := r.GetHello(); h != nil {
		w := &mxv1.Welcome{ControllerId: "lean"}
		if n := len(h.GetLabels()["targets"]); n > 0 {
			for i := 0; i < n; i++ {
				w.Plan = &mxv1.CheckPlan{ProbeTargets: append(w.GetPlan().GetProbeTargets(), strings.Repeat("x", 1000))}
			}
		}
		return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Welcome{Welcome: w}}, false, nil
	}
	b := r.GetBatch()
	switch b.GetSeq() {
	case 13:
		return nil, false, status.Error(codes.FailedPrecondition, "unlucky batch: 13 ✗ 100%")
	case 99:
		return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: 99}}}, true, nil
	}
	return &mxv1.ConnectResponse{Msg: &mxv1.ConnectResponse_Ack{Ack: &mxv1.Ack{Seq: b.GetSeq()}}}, false, nil
}

func (s *session) Close() { close(s.closed) }

// grpcAgent serves the test protocol on grpc-go.
type grpcAgent struct {
	mxv1.UnimplementedAgentServiceServer
}

func (grpcAgent) Connect(st mxv1.AgentService_ConnectServer) error {
	s := &session{closed: make(chan struct{})}
	defer s.Close()
	for {
		req, err := st.Recv()
		if err != nil {
			return err
		}
		resp, done, err := s.Handle(st.Context(), req)
		if err != nil {
			return err
		}
		if resp != nil {
			if err := st.Send(resp.(*mxv1.ConnectResponse)); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

type env struct {
	addr     string
	lean     *agentport.Server
	pki      *pkiSet
	sessions chan *session
	cancel   func()
}

func newEnv(t testing.TB, authorize func(ctx context.Context, m string) (context.Context, error)) *env {
	t.Helper()
	p := newPKI(t)
	e := &env{pki: p, sessions: make(chan *session, 1000)}
	e.lean = agentport.New(agentport.Config{
		Authorize:  authorize,
		MaxMessage: 4 << 20,
		Methods: []agentport.Method{
			{Name: mxv1.AgentService_Connect_FullMethodName, NewRequest: func() proto.Message { return new(mxv1.ConnectRequest) },
				Open: func(ctx context.Context) agentport.Session {
					s := &session{closed: make(chan struct{})}
					e.sessions <- s
					return s
				}},
			{Name: mxv1.AgentService_Renew_FullMethodName, NewRequest: func() proto.Message { return new(mxv1.RenewRequest) },
				Unary: func(ctx context.Context, req proto.Message) (proto.Message, error) {
					csr := req.(*mxv1.RenewRequest).GetCsrDer()
					if string(csr) == "fail" {
						return nil, status.Error(codes.PermissionDenied, "no renewal for you")
					}
					return &mxv1.RenewResponse{CertificateChainDer: [][]byte{csr, csr}}, nil
				}, MaxRequest: 64 << 10},
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: p.pool, MinVersion: tls.VersionTLS12}
	r := agentport.NewRouter(ln, cfg, isAgent, e.lean, nil)
	gs := grpc.NewServer(grpc.Creds(agentport.Handshaken()))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	// The same protocol on grpc-go, for connections the router sends there
	// (the benchmark compares the two).
	mxv1.RegisterAgentServiceServer(gs, grpcAgent{})
	ctx, cancel := context.WithCancel(context.Background())
	runDone, serveDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(runDone); _ = r.Run(ctx) }()
	go func() { defer close(serveDone); _ = gs.Serve(r) }()
	e.addr = ln.Addr().String()
	stopped := false
	e.cancel = func() {
		if stopped {
			return
		}
		stopped = true
		gs.Stop()
		_ = r.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := e.lean.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		<-runDone
		<-serveDone
	}
	t.Cleanup(e.cancel)
	return e
}

func (e *env) dial(t testing.TB, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	cc, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func hello(labels map[string]string) *mxv1.ConnectRequest {
	return &mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: &mxv1.Hello{AgentId: "edge01", Labels: labels}}}
}

func batch(seq uint64, payload int) *mxv1.ConnectRequest {
	b := &mxv1.ResultBatch{Seq: seq}
	if payload > 0 {
		b.Results = []*mxv1.CheckResult{{Check: strings.Repeat("c", payload)}}
	}
	return &mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}
}

func TestConnectStreamOverMutualTLS(t *testing.T) {
	e := newEnv(t, nil)
	cc := e.dial(t, &e.pki.agent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := mxv1.NewAgentServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(hello(nil)); err != nil {
		t.Fatal(err)
	}
	w, err := st.Recv()
	if err != nil || w.GetWelcome().GetControllerId() != "lean" {
		t.Fatalf("welcome: %v %v", w, err)
	}
	if got := e.lean.Connections(); got != 1 {
		t.Fatalf("lean server has %d connections, want 1 (an agent certificate)", got)
	}
	// Pipelined batches, a few of them bigger than the flow-control windows
	// and than a frame, all acknowledged in order.
	go func() {
		for seq := uint64(1); seq <= 12; seq++ {
			size := 100
			if seq%4 == 0 {
				size = 3 << 20 // 3 MiB: beyond the 1 MiB stream window
			}
			if err := st.Send(batch(seq, size)); err != nil {
				return
			}
		}
		_ = st.Send(batch(13, 0))
	}()
	for seq := uint64(1); seq <= 12; seq++ {
		r, err := st.Recv()
		if err != nil || r.GetAck().GetSeq() != seq {
			t.Fatalf("ack %d: %v %v", seq, r, err)
		}
	}
	// The handler's error is the call's status, message intact.
	_, err = st.Recv()
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "unlucky batch: 13 ✗ 100%" {
		t.Fatalf("after batch 13: %v", err)
	}
	s := <-e.sessions
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed after the call ended")
	}

	// The connection stays usable: a second call ends with OK at seq 99.
	st2, err := mxv1.NewAgentServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st2.Send(hello(nil))
	if _, err := st2.Recv(); err != nil {
		t.Fatal(err)
	}
	_ = st2.Send(batch(99, 10))
	if r, err := st2.Recv(); err != nil || r.GetAck().GetSeq() != 99 {
		t.Fatalf("ack 99: %v %v", r, err)
	}
	if _, err := st2.Recv(); err != io.EOF {
		t.Fatalf("after the last ack: %v, want io.EOF (status OK)", err)
	}
}

func TestLargeResponseWaitsForTheClientsWindow(t *testing.T) {
	e := newEnv(t, nil)
	cc := e.dial(t, &e.pki.agent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := mxv1.NewAgentServiceClient(cc).Connect(ctx, grpc.MaxCallRecvMsgSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	// ~2 MB Welcome: far beyond the client's initial 64 KiB windows.
	if err := st.Send(hello(map[string]string{"targets": strings.Repeat("t", 2000)})); err != nil {
		t.Fatal(err)
	}
	w, err := st.Recv()
	if err != nil || len(w.GetWelcome().GetPlan().GetProbeTargets()) != 2000 {
		t.Fatalf("welcome: %d targets, %v", len(w.GetWelcome().GetPlan().GetProbeTargets()), err)
	}
	_ = st.Send(batch(1, 1))
	if r, err := st.Recv(); err != nil || r.GetAck().GetSeq() != 1 {
		t.Fatalf("ack after the large response: %v %v", r, err)
	}
}

func TestUnaryAndLimits(t *testing.T) {
	e := newEnv(t, nil)
	cc := e.dial(t, &e.pki.agent)
	c := mxv1.NewAgentServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: []byte("csr")})
	if err != nil || len(r.GetCertificateChainDer()) != 2 || string(r.GetCertificateChainDer()[1]) != "csr" {
		t.Fatalf("Renew = %v, %v", r, err)
	}
	if _, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: []byte("fail")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("failing Renew: %v", err)
	}
	if _, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: make([]byte, 100<<10)}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Renew over its 64 KiB limit: %v", err)
	}
	if _, err := c.Enroll(ctx, &mxv1.EnrollRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("a method the lean endpoint does not serve: %v", err)
	}
	st, _ := c.Connect(ctx)
	_ = st.Send(hello(nil))
	_, _ = st.Recv()
	_ = st.Send(batch(1, 5<<20))
	if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("batch over the 4 MiB limit: %v", err)
	}
	// Compressed messages are refused with a status, not a crash.
	if _, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: []byte("csr")}, grpc.UseCompressor("gzip")); status.Code(err) != codes.Unimplemented {
		t.Fatalf("gzip request: %v", err)
	}
	// The connection survived all of it.
	if _, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: []byte("again")}); err != nil {
		t.Fatal(err)
	}
}

func TestRouterSendsOtherConnectionsToGRPCGo(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, cert := range map[string]*tls.Certificate{"no client certificate": nil, "node certificate": &e.pki.other} {
		cc := e.dial(t, cert)
		if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("%s: grpc-go service: %v", name, err)
		}
		if got := e.lean.Connections(); got != 0 {
			t.Fatalf("%s: lean server took the connection", name)
		}
	}
	// An agent connection cannot reach grpc-go's services.
	cc := e.dial(t, &e.pki.agent)
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("health on an agent connection: %v", err)
	}
}

func TestAuthorizeDecidesEachCall(t *testing.T) {
	type key struct{}
	e := newEnv(t, func(ctx context.Context, m string) (context.Context, error) {
		if m == mxv1.AgentService_Renew_FullMethodName {
			return nil, status.Error(codes.PermissionDenied, "agent is revoked")
		}
		return context.WithValue(ctx, key{}, "ok"), nil
	})
	cc := e.dial(t, &e.pki.agent)
	c := mxv1.NewAgentServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Renew(ctx, &mxv1.RenewRequest{CsrDer: []byte("x")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Renew: %v", err)
	}
	st, _ := c.Connect(ctx)
	_ = st.Send(hello(nil))
	if _, err := st.Recv(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

func TestShutdownEndsStreamsAndGoroutines(t *testing.T) {
	e := newEnv(t, nil)
	before := runtime.NumGoroutine()
	const n = 50
	streams := make([]mxv1.AgentService_ConnectClient, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range streams {
		cc := e.dial(t, &e.pki.agent) // its own connection each
		st, err := mxv1.NewAgentServiceClient(cc).Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(hello(nil))
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		streams[i] = st
	}
	if got := e.lean.Connections(); got != n {
		t.Fatalf("%d lean connections, want %d", got, n)
	}
	// One server goroutine per connection (the client side costs grpc-go's
	// four or so each, so measure loosely: well under the server's old 4).
	t.Logf("goroutines: %d before, %d with %d agent connections (client and server in this process)", before, runtime.NumGoroutine(), n)
	e.cancel()
	for i, st := range streams {
		if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
			t.Fatalf("stream %d after shutdown: %v", i, err)
		}
	}
	if got := e.lean.Connections(); got != 0 {
		t.Fatalf("%d connections after shutdown", got)
	}
	for i := 0; i < n; i++ {
		s := <-e.sessions
		select {
		case <-s.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("a session was not closed by shutdown")
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

// BenchmarkConnectRoundTrip: one batch and its ack over mutual TLS, on the
// lean endpoint (an agent certificate) and on grpc-go (another client
// certificate, same protocol), client and server in this process.
func BenchmarkConnectRoundTrip(b *testing.B) {
	e := newEnv(b, nil)
	for name, cert := range map[string]*tls.Certificate{"lean": &e.pki.agent, "grpc-go": &e.pki.other} {
		b.Run(name, func(b *testing.B) {
			cc := e.dial(b, cert)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := mxv1.NewAgentServiceClient(cc).Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			_ = st.Send(hello(nil))
			if _, err := st.Recv(); err != nil {
				b.Fatal(err)
			}
			req := batch(1, 2000) // about one agent round
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.GetBatch().Seq = uint64(100 + i)
				if err := st.Send(req); err != nil {
					b.Fatal(err)
				}
				if r, err := st.Recv(); err != nil || r.GetAck().GetSeq() != uint64(100+i) {
					b.Fatalf("ack: %v %v", r, err)
				}
			}
		})
	}
}
