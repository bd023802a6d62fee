package node

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/web"
)

// The dashboard's Acknowledge on a follower of a secure cluster: sign in
// with a write token over HTTPS, the form post becomes the API call over
// the node's own TLS gRPC port with that token, is forwarded to the leader
// and committed; the timeline names the token.
func TestDashboardAcknowledgeOnAFollower(t *testing.T) {
	sc := newSecureCluster(t, 3, func(c *Config) {
		fastCorrelation(c)
	})
	clusterCA, agentCA, nodes := sc.clusterCA, sc.agentCA, sc.nodes
	l := leader(t, nodes)
	f := nodes[0]
	if f == l {
		f = nodes[1]
	}
	authc := mxv1.NewAuthServiceClient(dialConn(t, l.n.GRPCAddr(), clusterCA.clientTLS()))
	tok, err := authc.CreateToken(bearer(t.Context(), bootstrapToken), &mxv1.CreateTokenRequest{Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "oncall", Scopes: []string{"write"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := connect(t, mxv1.NewAgentServiceClient(dialConn(t, l.n.GRPCAddr(), certFrom(t, agentCA, clusterCA, time.Now(), time.Hour))), "edge01")
	sendBatch(t, st, 1, "CERT_NO_PRIVATE_KEY")
	var inc *mxv1.Incident
	waitUntil(t, 20*time.Second, "incident open on the follower", func() bool {
		for _, i := range incidentsOf(f.n) {
			if i.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
				inc = i
				return true
			}
		}
		return false
	})

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + f.n.HTTPAddr()
	postForm := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := postForm("/ui/login", url.Values{"token": {tok.GetSecret()}, "next": {"/incidents/" + inc.GetId()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	resp, err := client.Get(base + "/incidents/" + inc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("incident page (%d) has no %s field:\n%s", resp.StatusCode, name, page)
		}
		return string(m[1])
	}
	if c := jar.Cookies(&url.URL{Scheme: "https", Host: f.n.HTTPAddr()}); len(c) != 1 || c[0].Name != web.CookieName {
		t.Fatalf("cookies %v", c)
	}
	resp, body := postForm("/incidents/"+inc.GetId()+"/acknowledge", url.Values{"csrf": {field("csrf")}, "key": {field("key")}, "sequence": {field("sequence")}, "comment": {"looking"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=acknowledged") {
		t.Fatalf("acknowledge: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	got := l.n.Store().State().Incident(inc.GetId())
	last := got.GetTimeline()[len(got.GetTimeline())-1]
	if got.GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED || last.GetActor() != "oncall" || last.GetComment() != "looking" {
		t.Fatalf("leader after acknowledge: %v, last entry %v", got.GetState(), last)
	}
}
