package node

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Over HTTPS on a secure node, every authenticated route answers 401 for a
// missing, malformed or unknown token and 403 for a valid token without the
// scope: the hand-written routes (backup, restore, profiles) as the
// gateway's do. A restore refused for its scope changes nothing.
func TestInsufficientScopeIs403MissingTokenIs401(t *testing.T) {
	sc := newSecureCluster(t, 1, func(c *Config) {
		c.Pprof = true
	})
	clusterCA, nodes := sc.clusterCA, sc.nodes
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
	join, err := authc.CreateToken(bearer(t.Context(), bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Name: "j", Site: "s"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()}, Timeout: 30 * time.Second}
	call := func(method, path, tok, body string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, "https://"+l.n.HTTPAddr()+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header
	}
	backup, _ := call("GET", "/v1/cluster/backup", bootstrapToken, "")
	if backup != 200 {
		t.Fatalf("backup with the admin token: %d", backup)
	}
	tokensBefore := len(l.n.Store().State().Tokens())

	type route struct{ method, path, body, minScope string }
	routes := []route{
		{"GET", "/v1/agents", "", "read"},
		{"GET", "/v1/cluster/backup", "", "admin"},
		{"POST", "/v1/cluster/restore", "not a backup", "admin"},
		{"GET", "/debug/pprof/goroutine?debug=1", "", "admin"},
		{"GET", "/v1/tokens", "", "admin"},
		{"POST", "/v1/incidents/nope:acknowledge", "{}", "write"},
		{"DELETE", "/v1/cluster/peers/c9", "", "admin"},
		{"GET", "/metrics", "", "read"},
	}
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	for _, r := range routes {
		for _, c := range []struct {
			name, tok string
			rank      int
		}{
			{"no token", "", 0}, {"malformed token", "not-a-token", 0}, {"unknown token", "mxp_0123456789abcdef_nope", 0},
			{"join token", join.GetSecret(), 0}, {"read token", reader, 1}, {"write token", writer, 2},
		} {
			code, h := call(r.method, r.path, c.tok, r.body)
			want := http.StatusForbidden
			switch {
			case c.rank == 0:
				want = http.StatusUnauthorized
			case c.rank >= rank[r.minScope]:
				if code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("%s %s with a %s: %d, but the scope suffices", r.method, r.path, c.name, code)
				}
				continue
			}
			if code != want {
				t.Errorf("%s %s with a %s: %d, want %d", r.method, r.path, c.name, code, want)
			}
			if handWritten := !strings.HasPrefix(r.path, "/v1/") || strings.HasPrefix(r.path, "/v1/cluster/backup") || strings.HasPrefix(r.path, "/v1/cluster/restore"); handWritten && code == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: 401 without a Bearer challenge", r.method, r.path)
			}
		}
	}
	if n := len(l.n.Store().State().Tokens()); n != tokensBefore {
		t.Fatalf("a refused restore changed the state: %d tokens, were %d", n, tokensBefore)
	}
}
