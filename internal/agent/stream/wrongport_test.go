package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// An agent pointed at an HTTP port (the controller's REST/dashboard port)
// is told so, plain HTTP and HTTPS with HTTP/2 alike, instead of a transport
// error about frames; a real gRPC controller is not mistaken for one.
func TestSessionRecognisesHTTPPort(t *testing.T) {
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	plain := httptest.NewServer(rest)
	defer plain.Close()
	h2 := httptest.NewUnstartedServer(rest)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	pool := x509.NewCertPool()
	pool.AddCert(h2.Certificate())
	tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "example.com"}))

	for _, c := range []struct {
		name string
		addr string
		opts []grpc.DialOption
	}{
		{"plain HTTP", strings.TrimPrefix(plain.URL, "http://"), nil},
		{"HTTPS with HTTP/2", strings.TrimPrefix(h2.URL, "https://"), []grpc.DialOption{tlsCreds}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := NewClient(Config{Controllers: []string{c.addr}, Hello: &mxv1.Hello{AgentId: "edge01"}, Outbox: NewMemOutbox(0, 0),
				DialOptions: c.opts, AckTimeout: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = cl.session(context.Background(), c.addr)
			if !errors.Is(err, ErrHTTPPort) || !strings.Contains(err.Error(), "this is the controller's HTTP port; agents use the gRPC port (default 7400)") || !strings.Contains(err.Error(), c.addr) {
				t.Errorf("session against an HTTP port: %v", err)
			}
		})
	}

	// A controller that is gRPC but refuses the agent is not an HTTP port.
	ctl := serve(t, &testController{mode: redirecting, leader: "elsewhere:7400", state: &committed{}})
	cl, err := NewClient(Config{Controllers: []string{ctl.addr}, Hello: &mxv1.Hello{AgentId: "edge01"}, Outbox: NewMemOutbox(0, 0),
		AckTimeout: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if leader, _, err := cl.session(context.Background(), ctl.addr); errors.Is(err, ErrHTTPPort) || leader != "elsewhere:7400" {
		t.Errorf("gRPC controller: leader %q err %v", leader, err)
	}
}
