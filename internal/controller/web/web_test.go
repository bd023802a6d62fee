package web

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

const (
	seedHost = "edge02.amsterdam.contoso.test"
	hostile  = `<script>alert("x")</script>`
)

type fixture struct {
	st      *store.Store
	auth    *auth.Authenticator
	keyless string // the seed case's keyless thumbprint
	token   string // a read-scope API token
	seq     uint64
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newFixture opens a one-node store and commits, through raft, what the
// demo's agents send: edge02's seed certificate store (keyless duplicate),
// an agent whose every string is hostile, an API token; then runs the real
// correlation engine until the seed incident is open.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := storetest.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := &fixture{st: s}
	apply := func(cmd *mxv1.Command) {
		t.Helper()
		if _, err := s.Apply(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := lab.NewCA("web test CA")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := lab.WriteSeedStore(filepath.Join(t.TempDir(), "store"), ca, seedHost)
	if err != nil {
		t.Fatal(err)
	}
	f.keyless = seed.KeylessDuplicate.Thumbprint
	uri := "pemdir:" + seed.Dir
	cs, err := certread.Open(uri, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chk := &checks.CertStore{URI: uri, Store: cs, Opts: certdiag.Options{Host: seedHost}}
	findings, _ := chk.Run(ctx)

	apply(&mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{
		AgentId: "edge02", Site: "amsterdam", Hostname: seedHost, Roles: []mxv1.Role{mxv1.Role_ROLE_EDGE}, Version: "1.2.3-test"}}}})
	apply(&mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{
		AgentId: "evil", Site: hostile, Hostname: "evil" + hostile, Version: hostile}}}})
	f.ingestSeed(t, findings)
	apply(ingest("evil", 1, &mxv1.CheckResult{Check: "certstore", Target: "pemdir:" + hostile, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, StartedAt: timestamppb.Now(),
		Findings: []*mxv1.Finding{{Code: "CERT_NO_PRIVATE_KEY", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "ABCDEF" + hostile, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE,
			Summary: "summary " + hostile, Remediation: "Remove-Item " + hostile,
			Evidence: map[string]string{"thumbprint": "ABCDEF" + hostile, "subject": "CN=" + hostile, "issuer": "CN=" + hostile, "not_after": "2020-01-01T00:00:00Z", "has_private_key": "false", "origin": "store", "store": hostile}}}}))

	id, secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	f.token = secret
	apply(&mxv1.Command{Kind: &mxv1.Command_CreateToken{CreateToken: &mxv1.CreateToken{Token: &mxv1.Token{
		Id: id, Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: "alice", Scopes: []string{auth.ScopeRead}, SecretHash: auth.Hash(secret)}}}})
	f.auth = auth.New(auth.Config{State: s.State()})

	loop := correlate.NewLoop(s, correlate.LoopConfig{Engine: correlate.Config{OpenAfterObservations: 1}, Logger: quietLog()})
	for i := 0; ; i++ {
		if _, err := loop.Round(ctx); err != nil {
			t.Fatal(err)
		}
		if f.seedIncident() != nil {
			break
		}
		if i == 5 {
			t.Fatalf("no open seed incident after %d rounds: %v", i, s.State().Incidents(incident.Filter{}))
		}
		f.ingestSeed(t, findings)
	}
	return f
}

func ingest(agent string, seq uint64, r *mxv1.CheckResult) *mxv1.Command {
	return &mxv1.Command{Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{Batches: []*mxv1.AgentBatch{{
		AgentId: agent, Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{r}}}}}}}
}

func (f *fixture) ingestSeed(t *testing.T, findings []*mxv1.Finding) {
	t.Helper()
	f.seq++
	if _, err := f.st.Apply(context.Background(), ingest("edge02", f.seq, &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/seed",
		Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, StartedAt: timestamppb.Now(), Findings: findings})); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) seedIncident() *mxv1.Incident {
	for _, inc := range f.st.State().Incidents(incident.Filter{}) {
		if inc.GetCause() == "CERT_NO_PRIVATE_KEY" && inc.GetRootCause().GetSubject() == f.keyless && inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
			return inc
		}
	}
	return nil
}

func (f *fixture) handler(mod func(*Config)) *Handler {
	cfg := Config{State: f.st.State(), AppliedIndex: f.st.AppliedIndex, Auth: f.auth, NodeID: "n1", Logger: quietLog(), PollInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

func do(h http.Handler, method, target string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (f *fixture) get(h http.Handler, target string) *httptest.ResponseRecorder {
	return do(h, "GET", target, nil, map[string]string{"Cookie": CookieName + "=" + f.token})
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// The seed case is on the overview, its incident page names host and
// keyless thumbprint with the PowerShell fix and a diagram, the
// certificate inventory flags the keyless certificate, agents are listed.
func TestPagesShowTheSeedCase(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	inc := f.seedIncident()

	w := f.get(h, "/")
	if w.Code != 200 {
		t.Fatalf("overview: %d %s", w.Code, w.Body)
	}
	mustContain(t, "overview", w.Body.String(), seedHost, f.keyless, "/incidents/"+inc.GetId(), "tile sev-critical", "As of this node", "OPEN", "SERVER")
	if strings.Contains(w.Body.String(), "INSECURE MODE") {
		t.Error("secure dashboard shows the insecure banner")
	}
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if w.Header().Get(hdr) == "" {
			t.Errorf("no %s header", hdr)
		}
	}

	w = f.get(h, "/incidents/"+inc.GetId())
	if w.Code != 200 {
		t.Fatalf("incident: %d %s", w.Code, w.Body)
	}
	mustContain(t, "incident page", w.Body.String(), seedHost, f.keyless, "CERT_NO_PRIVATE_KEY", "root_cause",
		"Where-Object Thumbprint -eq &#39;"+f.keyless+"&#39; | Remove-Item\nRestart-Service MSExchangeTransport", `data-copy="ps-code"`, "<svg", "opened</strong> by mxprobe")
	if w := f.get(h, "/incidents/"+inc.GetFingerprint()); w.Code != 200 {
		t.Errorf("incident by fingerprint: %d", w.Code)
	}
	if w := f.get(h, "/incidents/inc-nope-1"); w.Code != 404 {
		t.Errorf("unknown incident: %d", w.Code)
	}

	w = f.get(h, "/certificates")
	mustContain(t, "certificates", w.Body.String(), f.keyless, "NO KEY", "DUPLICATE IDENTITY", seedHost, "Certificate expiry timeline", "expired")

	w = f.get(h, "/agents")
	mustContain(t, "agents", w.Body.String(), "edge02", seedHost, "1.2.3-test", "Site amsterdam", "Failing checks")
	// The server is CRITICAL here as on the overview (one place decides a
	// server's severity; the agents page once said ERROR).
	if !regexp.MustCompile(`class="badge sev-critical" href="/\?host=` + regexp.QuoteMeta(seedHost) + `">\d+ · CRITICAL</a>`).MatchString(w.Body.String()) {
		t.Errorf("agents page does not colour %s CRITICAL as the overview does:\n%s", seedHost, w.Body.String())
	}
	if !regexp.MustCompile(`certstore[^<]*<span class="hint">since <time datetime="20`).MatchString(w.Body.String()) {
		t.Errorf("agents page does not show the failing certificate store check and since when:\n%s", w.Body.String())
	}
	mustContain(t, "agents links", w.Body.String(), `<a href="/agents/edge02">edge02</a>`)
	w = f.get(h, "/agents/edge02")
	if w.Code != 200 {
		t.Fatalf("agent page: %d %s", w.Code, w.Body)
	}
	mustContain(t, "agent page", w.Body.String(), "Agent edge02", seedHost, "certstore", `<span class="badge sev-critical">FAIL</span>`, "CERT_NO_PRIVATE_KEY", "FAIL 20")
	if w := f.get(h, "/agents/nope"); w.Code != 404 {
		t.Errorf("unknown agent: %d", w.Code)
	}

	w = f.get(h, "/?host="+url.QueryEscape(seedHost))
	mustContain(t, "host filter", w.Body.String(), "host "+seedHost, inc.GetId())
	w = f.get(h, "/?state=RESOLVED")
	if strings.Contains(w.Body.String(), "/incidents/"+inc.GetId()) {
		t.Error("state filter lists an open incident under RESOLVED")
	}
	if w := f.get(h, "/ui/static/app.css"); w.Code != 200 || !strings.Contains(w.Body.String(), "--crit") {
		t.Errorf("static css: %d", w.Code)
	}
}

// Strings from agents reach the page escaped, never as markup.
func TestHostileStringsAreEscaped(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	var evil string
	for _, inc := range f.st.State().Incidents(incident.Filter{}) {
		if strings.Contains(inc.GetSummary(), "<script>") {
			evil = inc.GetId()
		}
	}
	pages := []string{"/", "/certificates", "/agents", "/agents/evil"}
	if evil != "" {
		pages = append(pages, "/incidents/"+evil)
	}
	for _, p := range pages {
		w := f.get(h, p)
		if w.Code != 200 {
			t.Fatalf("%s: %d", p, w.Code)
		}
		b := w.Body.String()
		if strings.Contains(b, "<script>alert") {
			t.Errorf("%s renders an agent's string as markup", p)
		}
		if !strings.Contains(b, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile string escaped", p)
		}
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)

	for _, p := range []string{"/", "/incidents/x", "/certificates", "/agents"} {
		w := do(h, "GET", p, nil, nil)
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/ui/login?next=") {
			t.Errorf("%s without a cookie: %d %q", p, w.Code, w.Header().Get("Location"))
		}
	}
	if w := do(h, "GET", "/ui/events", nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("events without a cookie: %d", w.Code)
	}
	if w := do(h, "GET", "/", nil, map[string]string{"Cookie": CookieName + "=garbage"}); w.Code != http.StatusSeeOther {
		t.Errorf("bad cookie: %d", w.Code)
	}
	if w := do(h, "GET", "/", nil, map[string]string{"Authorization": "Bearer " + f.token}); w.Code != 200 {
		t.Errorf("bearer header: %d", w.Code)
	}
	if w := do(h, "GET", "/ui/login?next=/agents", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `<label for="token">API token</label>`) {
		t.Errorf("login form: %d", w.Code)
	}

	form := func(tok, next string) io.Reader {
		return strings.NewReader(url.Values{"token": {tok}, "next": {next}}.Encode())
	}
	ct := "application/x-www-form-urlencoded"
	// Cross-site posts are refused (login CSRF).
	if w := do(h, "POST", "/ui/login", form(f.token, "/"), map[string]string{"Content-Type": ct, "Origin": "http://evil.example"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/login", form(f.token, "/"), map[string]string{"Content-Type": ct, "Origin": "null"}); w.Code != http.StatusForbidden {
		t.Errorf("null-origin login: %d", w.Code)
	}
	if w := do(h, "POST", "/ui/login", form("mxp_bad", "/"), map[string]string{"Content-Type": ct, "Origin": "http://example.com"}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "malformed") {
		t.Errorf("bad token: %d %s", w.Code, w.Body)
	}
	w := do(h, "POST", "/ui/login", form(f.token, "//evil.example/x"), map[string]string{"Content-Type": ct, "Origin": "http://example.com"})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("login: %d %q (an off-site next must become /)", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Name != CookieName || c[0].Value != f.token || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Secure || c[0].Path != "/" {
		t.Fatalf("cookie: %+v", c)
	}
	// Behind TLS the cookie is Secure.
	hs := f.handler(func(c *Config) { c.SecureCookie = true })
	w = do(hs, "POST", "/ui/login", form(f.token, "/agents"), map[string]string{"Content-Type": ct, "Origin": "https://example.com"})
	if c := w.Result().Cookies(); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/agents" || len(c) != 1 || !c[0].Secure {
		t.Fatalf("TLS login: %d %+v", w.Code, c)
	}
	w = do(h, "POST", "/ui/logout", nil, map[string]string{"Origin": "http://example.com"})
	if c := w.Result().Cookies(); w.Code != http.StatusSeeOther || len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %+v", w.Code, c)
	}
}

func TestInsecureModeNeedsNoLogin(t *testing.T) {
	f := newFixture(t)
	h := f.handler(func(c *Config) { c.Insecure, c.Auth = true, nil })
	w := do(h, "GET", "/", nil, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "INSECURE MODE") {
		t.Fatalf("insecure overview: %d", w.Code)
	}
}

// The event stream says hello, then "change" when a raft entry is applied,
// and ends when the client goes away.
func TestEventsStreamChanges(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ui/events", nil)
	req.AddCookie(&http.Cookie{Name: CookieName, Value: f.token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				if l == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %q", want)
			}
		}
	}
	expect("event: hello")
	f.ingestSeed(t, nil)
	expect("event: change")
	cancel()
	deadline := time.Now().Add(time.Minute) // a hang guard: a loaded machine only makes this slower
	for len(h.streams) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("stream handler still running after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsBounded(t *testing.T) {
	f := newFixture(t)
	h := f.handler(func(c *Config) { c.MaxStreams, c.MaxStream = 1, 200*time.Millisecond })
	h.streams <- struct{}{}
	if w := f.get(h, "/ui/events"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("over the stream limit: %d", w.Code)
	}
	<-h.streams
	w := f.get(h, "/ui/events") // returns only because the stream ends by itself after MaxStream
	if !strings.Contains(w.Body.String(), "event: hello") {
		t.Errorf("bounded stream: body %q", w.Body)
	}
}

func TestPowerShell(t *testing.T) {
	got := powershell(`On edge02.contoso.com remove it: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -eq 'AB12' | Remove-Item ; then Restart-Service MSExchangeTransport and Retry-Queue.`)
	want := "Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq 'AB12' | Remove-Item\nRestart-Service MSExchangeTransport\nRetry-Queue"
	if got != want {
		t.Errorf("powershell:\n%s\nwant\n%s", got, want)
	}
	if got := powershell("Renew certificate AB12 (CN=x), install it with its private key on x:25, Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, update TlsCertificateName on its connectors, and remove the old one."); got != "Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP" {
		t.Errorf("renewal: %q", got)
	}
	if got := powershell("Ask the partner to renew their certificate."); got != "" {
		t.Errorf("prose: %q", got)
	}
	// Advice that names a cmdlet is not a command to copy.
	if got := powershell("On the server behind mx.fabrikam.com:25: Enable-ExchangeCertificate -Services SMTP for a certificate matching the connector FQDN (event 12014 names the missing name); make sure the receive connector's AuthMechanism includes Tls."); got != "" {
		t.Errorf("advice in the PowerShell block: %q", got)
	}
	if got := powershell("Set-ReceiveConnector 'Default Frontend EDGE02' -TlsCertificateName '<I>CN=Contoso CA<S>CN=mail.contoso.com'"); got == "" {
		t.Error("a command with quoted lower-case words was dropped")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/agents": "/agents", "": "/", "//evil": "/", "/\\evil": "/", "https://evil": "/", "/x\r\nSet-Cookie: a": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
