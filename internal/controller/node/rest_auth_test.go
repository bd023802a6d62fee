package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// The new REST endpoints, SSE included, are authenticated by the gRPC
// interceptors: no token 401, read scope lists and streams, write scope
// needed to redeliver or re-enable.
func TestRESTDeliveriesAndEventsNeedScopes(t *testing.T) {
	clusterCA := newTestCA(t)
	agentCA, err := pki.Generate("test agent CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nodes := newCluster(t, 1, func(i int) *tlsutil.Mutual { return clusterCA.mutual(t, fmt.Sprintf("c%d", i+1)) }, func(c *Config) {
		c.AgentCA, c.AgentCertTTL, c.BootstrapToken = agentCA, time.Hour, bootstrapToken
	})
	l := leader(t, nodes)
	authc := mxv1.NewAuthServiceClient(dialConn(t, l.n.GRPCAddr(), clusterCA.clientTLS()))
	token := func(scope string) string {
		tok, err := authc.CreateToken(bearer(t.Context(), bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: scope + "-tok", Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.GetSecret()
	}
	reader, writer := token("read"), token("write")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()}, Timeout: 10 * time.Second}
	base := "https://" + l.n.HTTPAddr()
	call := func(method, path, tok string) int {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, tok string
		want              int
	}{
		{"GET", "/v1/events", "", 401},
		{"GET", "/v1/events", reader, 200},
		{"GET", "/v1/events:stream", "", 401},
		{"GET", "/v1/events:stream", reader, 200},
		{"GET", "/v1/deliveries?status=FAILED", reader, 200},
		{"GET", "/v1/notify/targets", reader, 200},
		{"POST", "/v1/deliveries/ops/msg_x:redeliver", reader, 403},
		{"POST", "/v1/deliveries/ops/msg_x:redeliver", writer, 404},
		{"POST", "/v1/notify/targets/ops:enable", reader, 403},
		{"POST", "/v1/notify/targets/ops:enable", writer, 404},
	} {
		if got := call(c.method, c.path, c.tok); got != c.want {
			t.Errorf("%s %s (token %v): %d, want %d", c.method, c.path, c.tok != "", got, c.want)
		}
	}
}
