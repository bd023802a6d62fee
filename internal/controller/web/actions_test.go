package web

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// addToken commits an API token through raft and returns its secret.
func (f *fixture) addToken(t *testing.T, name, scope string) string {
	t.Helper()
	id, secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_CreateToken{CreateToken: &mxv1.CreateToken{Token: &mxv1.Token{
		Id: id, Kind: mxv1.TokenKind_TOKEN_KIND_API, Name: name, Scopes: []string{scope}, SecretHash: auth.Hash(secret)}}}}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// controllerAPI serves the real ControllerService (api.Service on the
// fixture's store, behind the real authenticator) on a loopback gRPC port
// and returns a client: what the node gives the dashboard.
func (f *fixture) controllerAPI(t *testing.T, a *auth.Authenticator) mxv1.ControllerServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Unary))
	mxv1.RegisterControllerServiceServer(srv, api.NewService(f.st, nil))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return mxv1.NewControllerServiceClient(conn)
}

var (
	csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	keyRe  = regexp.MustCompile(`name="key" value="([^"]+)-state"`)
)

// formOf loads the incident page as the cookie's user and returns the
// hidden fields of its state form.
func formOf(t *testing.T, h http.Handler, token, id string) (csrf, key, seq string) {
	t.Helper()
	w := do(h, "GET", "/incidents/"+id, nil, map[string]string{"Cookie": CookieName + "=" + token})
	if w.Code != 200 {
		t.Fatalf("incident page: %d", w.Code)
	}
	b := w.Body.String()
	m, k := csrfRe.FindStringSubmatch(b), keyRe.FindStringSubmatch(b)
	s := regexp.MustCompile(`name="sequence" value="(\d+)"`).FindStringSubmatch(b)
	if m == nil || k == nil || s == nil {
		t.Fatalf("incident page has no action form:\n%s", b)
	}
	return m[1], k[1], s[1]
}

func post(h http.Handler, path, token string, form url.Values, origin string) *httpResponse {
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if token != "" {
		hdr["Cookie"] = CookieName + "=" + token
	}
	if origin != "" {
		hdr["Origin"] = origin
	}
	w := do(h, "POST", path, strings.NewReader(form.Encode()), hdr)
	return &httpResponse{code: w.Code, body: w.Body.String(), location: w.Header().Get("Location")}
}

type httpResponse struct {
	code           int
	body, location string
}

// Acknowledge, attach and remove a ticket, resolve: each a form post that
// becomes the real API call with the signed-in user's token. Refused: a
// read-only token (403 with a sentence), another site's post, a missing or
// foreign form token, no sign-in, a stale page (409), an oversized form;
// a double submit is one action.
func TestIncidentActionsThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	writer := f.addToken(t, "bob", auth.ScopeWrite)
	h := f.handler(func(c *Config) { c.Actions = f.controllerAPI(t, f.auth) })
	inc := f.seedIncident()
	id, path := inc.GetId(), "/incidents/"+inc.GetId()
	const origin = "http://example.com" // httptest's Host

	// A read-only user sees the forms; the API refuses the write.
	csrf, key, seq := formOf(t, h, f.token, id)
	r := post(h, path+"/acknowledge", f.token, url.Values{"csrf": {csrf}, "key": {key}, "sequence": {seq}}, origin)
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "write scope") {
		t.Fatalf("read token acknowledged: %d %s", r.code, r.body)
	}

	csrf, key, seq = formOf(t, h, writer, id)
	good := url.Values{"csrf": {csrf}, "key": {key + "-state"}, "sequence": {seq}, "comment": {"on it"}}
	for name, c := range map[string]struct {
		token, origin string
		form          url.Values
		want          int
	}{
		"another site":       {writer, "http://evil.example", good, http.StatusForbidden},
		"Origin null":        {writer, "null", good, http.StatusForbidden},
		"no form token":      {writer, origin, url.Values{"key": {"k1"}, "sequence": {seq}}, http.StatusForbidden},
		"foreign form token": {writer, origin, url.Values{"csrf": {csrfToken(f.token)}, "key": {"k2"}, "sequence": {seq}}, http.StatusForbidden},
		"not signed in":      {"", origin, good, http.StatusUnauthorized},
		"oversized form":     {writer, origin, url.Values{"csrf": {csrf}, "comment": {strings.Repeat("x", maxActionForm)}}, http.StatusRequestEntityTooLarge},
	} {
		if r := post(h, path+"/acknowledge", c.token, c.form, c.origin); r.code != c.want {
			t.Errorf("%s: %d, want %d (%s)", name, r.code, c.want, r.body)
		}
	}
	stale := url.Values{"csrf": {csrf}, "key": {"k-stale"}, "sequence": {strconv.FormatUint(inc.GetSequence()+5, 10)}}
	if r := post(h, path+"/acknowledge", writer, stale, origin); r.code != http.StatusConflict || !strings.Contains(r.body, "changed since this page was loaded") {
		t.Errorf("stale page: %d %s", r.code, r.body)
	}
	if got := f.st.State().Incident(id); got.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || got.GetSequence() != inc.GetSequence() {
		t.Fatalf("a refused action changed the incident: %v seq %d", got.GetState(), got.GetSequence())
	}

	// Acknowledge, twice from the same page: one action.
	for range 2 {
		r := post(h, path+"/acknowledge", writer, good, origin)
		if r.code != http.StatusSeeOther || r.location != path+"?done=acknowledged" {
			t.Fatalf("acknowledge: %d %q %s", r.code, r.location, r.body)
		}
	}
	got := f.st.State().Incident(id)
	last := got.GetTimeline()[len(got.GetTimeline())-1]
	if got.GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED || last.GetActor() != "bob" || last.GetComment() != "on it" {
		t.Fatalf("after acknowledge: %v, last entry %v", got.GetState(), last)
	}
	n := 0
	for _, e := range got.GetTimeline() {
		if e.GetKind() == incident.KindAcknowledged {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a double submit acknowledged %d times", n)
	}
	w := f.get(h, path+"?done=acknowledged")
	mustContain(t, "page after acknowledge", w.Body.String(), "Acknowledged: the incident stays open", "ACKNOWLEDGED", "acknowledged</strong> by bob: on it", "/resolve")
	if strings.Contains(w.Body.String(), `formaction="`+path+`/acknowledge"`) {
		t.Error("an acknowledged incident still offers Acknowledge")
	}

	// Attach a ticket; a bad system name is the API's 422 sentence.
	csrf, key, seq = formOf(t, h, writer, id)
	if r := post(h, path+"/refs", writer, url.Values{"csrf": {csrf}, "key": {key + "-refs"}, "sequence": {seq}, "system": {"Service Now"}, "ref": {"INC1"}}, origin); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "system") {
		t.Errorf("bad system: %d %s", r.code, r.body)
	}
	if r := post(h, path+"/refs", writer, url.Values{"csrf": {csrf}, "key": {key + "-refs2"}, "sequence": {seq}, "system": {"servicenow"}, "ref": {"INC0012345"}}, origin); r.code != http.StatusSeeOther {
		t.Fatalf("attach: %d %s", r.code, r.body)
	}
	if refs := f.st.State().Incident(id).GetExternalRefs(); refs["servicenow"] != "INC0012345" || len(refs) != 1 {
		t.Fatalf("refs after attach: %v", refs)
	}
	w = f.get(h, path)
	mustContain(t, "page with a ticket", w.Body.String(), "servicenow <strong>INC0012345</strong>", `aria-label="Remove servicenow INC0012345"`)
	csrf, key, seq = formOf(t, h, writer, id)
	if r := post(h, path+"/refs", writer, url.Values{"csrf": {csrf}, "key": {key + "-rm-servicenow"}, "sequence": {seq}, "system": {"servicenow"}, "remove": {"1"}}, origin); r.code != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.code, r.body)
	}
	if refs := f.st.State().Incident(id).GetExternalRefs(); len(refs) != 0 {
		t.Fatalf("refs after remove: %v", refs)
	}

	// Resolve; then nothing is left to do.
	csrf, key, seq = formOf(t, h, writer, id)
	if r := post(h, path+"/resolve", writer, url.Values{"csrf": {csrf}, "key": {key + "-state"}, "sequence": {seq}}, origin); r.code != http.StatusSeeOther || r.location != path+"?done=resolved" {
		t.Fatalf("resolve: %d %s", r.code, r.body)
	}
	if s := f.st.State().Incident(id).GetState(); s != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("state after resolve: %v", s)
	}
	w = f.get(h, path)
	mustContain(t, "resolved page", w.Body.String(), "This incident is RESOLVED: nothing to acknowledge or resolve.")
	if r := post(h, path+"/resolve", writer, url.Values{"csrf": {csrf}, "key": {"again"}}, origin); r.code != http.StatusConflict {
		t.Errorf("resolving a resolved incident: %d %s", r.code, r.body)
	}
	if r := post(h, path+"/frobnicate", writer, url.Values{"csrf": {csrf}}, origin); r.code != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.code)
	}
}

// Without an Actions backend the page offers no forms and posts are 501.
func TestNoActionsWithoutBackend(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	inc := f.seedIncident()
	w := f.get(h, "/incidents/"+inc.GetId())
	if strings.Contains(w.Body.String(), `name="csrf"`) {
		t.Error("forms without an Actions backend")
	}
	if r := post(h, "/incidents/"+inc.GetId()+"/acknowledge", f.token, url.Values{"csrf": {csrfToken(f.token)}}, "http://example.com"); r.code != http.StatusNotImplemented {
		t.Errorf("post without backend: %d", r.code)
	}
}

// Insecure mode: nobody is signed in, so the form asks who acts; the name
// is the timeline's actor.
func TestInsecureActionsNameTheActor(t *testing.T) {
	f := newFixture(t)
	open := auth.New(auth.Config{Insecure: true})
	h := f.handler(func(c *Config) { c.Insecure, c.Auth, c.Actions = true, nil, f.controllerAPI(t, open) })
	inc := f.seedIncident()
	path := "/incidents/" + inc.GetId()
	w := do(h, "GET", path, nil, nil)
	mustContain(t, "insecure incident page", w.Body.String(), `<label for="actor-state">Your name</label>`)
	csrf := csrfToken("")
	if r := post(h, path+"/acknowledge", "", url.Values{"csrf": {csrf}}, "http://example.com"); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "actor") {
		t.Errorf("no name: %d %s", r.code, r.body)
	}
	if r := post(h, path+"/acknowledge", "", url.Values{"csrf": {csrf}, "actor": {"carol"}}, "http://example.com"); r.code != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d %s", r.code, r.body)
	}
	got := f.st.State().Incident(inc.GetId())
	if last := got.GetTimeline()[len(got.GetTimeline())-1]; last.GetActor() != "carol" || got.GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
		t.Fatalf("insecure acknowledge: %v %v", got.GetState(), last)
	}
}
