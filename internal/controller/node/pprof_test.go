package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// debug.pprof serves runtime profiles to admin tokens only, and nothing
// when off (the default).
func TestPprofIsAdminOnlyAndOffByDefault(t *testing.T) {
	clusterCA := newTestCA(t)
	agentCA, err := pki.Generate("test agent CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()}, Timeout: 30 * time.Second}
	get := func(n *Node, path, tok string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+n.HTTPAddr()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, on := range []bool{true, false} {
		nodes := newCluster(t, 1, func(i int) *tlsutil.Mutual { return clusterCA.mutual(t, fmt.Sprintf("c%d", i+1)) }, func(c *Config) {
			c.AgentCA, c.AgentCertTTL, c.BootstrapToken, c.Pprof = agentCA, time.Hour, bootstrapToken, on
		})
		l := leader(t, nodes)
		authc := mxv1.NewAuthServiceClient(dialConn(t, l.n.GRPCAddr(), clusterCA.clientTLS()))
		reader, err := authc.CreateToken(bearer(t.Context(), bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "reader", Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(l.n, "/debug/pprof/heap?gc=1", bootstrapToken)
		if !on {
			if code == http.StatusOK && bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				t.Fatal("debug.pprof off, yet a heap profile was served")
			}
			continue
		}
		if code != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
			t.Fatalf("admin heap profile: %d, %d bytes", code, len(body))
		}
		if code, _ := get(l.n, "/debug/pprof/goroutine?debug=1", ""); code != http.StatusUnauthorized {
			t.Fatalf("goroutine profile without a token: %d, want 401", code)
		}
		if code, _ := get(l.n, "/debug/pprof/goroutine?debug=1", reader.GetSecret()); code != http.StatusForbidden {
			t.Fatalf("goroutine profile with a read token: %d, want 403", code)
		}
		if code, body := get(l.n, "/debug/pprof/goroutine?debug=1", bootstrapToken); code != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile: total")) {
			t.Fatalf("admin goroutine profile: %d %.80s", code, body)
		}
		for _, tn := range nodes {
			tn.stop()
		}
	}
}
