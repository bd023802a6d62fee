package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
	"github.com/mxprobe/mxprobe/internal/controller/store/storetest"
)

// edgeFleet is a store with two hybrid Edge servers' reports (amsterdam,
// berlin) on the Contoso certificate and a read token. (The dashboard
// takes no site-scoped token; the API test covers their scope.)
func edgeFleet(t *testing.T) (*fixture, *renewaltest.PKI) {
	t.Helper()
	f := &fixture{st: storetest.Open(t)}
	p := renewaltest.NewPKI(t, time.Now(), time.Now().AddDate(0, 0, 20))
	for i, e := range [][3]string{{"edge01", "amsterdam", "EDGE01"}, {"edge02", "berlin", "EDGE02"}} {
		h, r := renewaltest.Edge(t, e[0], e[1], e[2], p.Old)
		if _, err := f.st.Apply(t.Context(), &mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: h}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Apply(t.Context(), ingest(e[0], uint64(i+1), r)); err != nil {
			t.Fatal(err)
		}
	}
	f.token = f.addToken(t, "pki", auth.ScopeRead)
	f.auth = auth.New(auth.Config{State: f.st.State()})
	return f, p
}

// upload posts the renewal form as a browser does (multipart, same origin).
func upload(t *testing.T, h http.Handler, token, csrf, file string, cert []byte, fields map[string]string) *httpResponse {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if csrf != "" {
		_ = mw.WriteField("csrf", csrf)
	}
	if cert != nil {
		w, _ := mw.CreateFormFile("certificate", file)
		_, _ = w.Write(cert)
	}
	_ = mw.Close()
	hdr := map[string]string{"Content-Type": mw.FormDataContentType(), "Origin": "http://example.com"}
	if token != "" {
		hdr["Cookie"] = CookieName + "=" + token
	}
	w := do(h, "POST", "/preflight", &b, hdr)
	return &httpResponse{code: w.Code, body: w.Body.String()}
}

// The renewal page: the form (signed in only), then the plan the API
// predicts with the signed-in user's token: another CA's certificate on
// amsterdam breaks edge01's connectors and the hybrid rule (naming edge02),
// with each server's plan; a same-identity renewal works; a PFX or a key
// is refused by the API with its sentence; cross-site posts, missing or
// foreign form tokens and oversized uploads are refused.
func TestPreflightPage(t *testing.T) {
	f, p := edgeFleet(t)
	h := f.handler(func(c *Config) { c.Preflight = f.controllerAPI(t, f.auth) })
	if w := do(h, "GET", "/preflight", nil, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("not signed in: %d", w.Code)
	}
	w := f.get(h, "/preflight")
	mustContain(t, "form", w.Body.String(), `enctype="multipart/form-data"`, `name="certificate"`, `value="pfx" checked`, "never receives private keys", `aria-current="page">Renewal`)
	if strings.Contains(w.Body.String(), `data-live="1"`) {
		t.Error("the renewal page has live updates (a refresh would drop the result)")
	}
	csrf := csrfRe.FindStringSubmatch(w.Body.String())[1]

	other := renewaltest.Issue(t, p.Fabrikam, time.Now(), time.Now().AddDate(1, 0, 0))
	r := upload(t, h, f.token, csrf, "mail-2026.cer", other.ChainPEM(), map[string]string{"key_source": "pfx", "site": "amsterdam"})
	if r.code != 200 {
		t.Fatalf("pre-flight: %d %s", r.code, r.body)
	}
	mustContain(t, "result", r.body, `id="pf-verdict"`, "BREAKS", "on edge01", "fleet check hybrid-edge-identity fails", other.Thumbprint(),
		"import the new certificate on edge02.contoso.com too", "CONNECTOR_CERT_NOT_FOUND", `class="outcome-breaks"`, "Rollout: <strong>not-imported</strong>",
		"Renewal plan for edge01.contoso.com", `C:\Temp\mail-2026.pfx`, "Set-SendConnector -Identity &#39;Outbound to Office 365&#39;", `data-copy="a0-s0"`)
	if strings.Contains(r.body, `id="pf-edge02"`) {
		t.Error("edge02 is listed though the import is on amsterdam only")
	}
	same := renewaltest.Issue(t, p.Contoso, time.Now(), time.Now().AddDate(1, 0, 0))
	r = upload(t, h, f.token, csrf, "same.cer", same.Cert.Raw, map[string]string{"key_source": "pfx"})
	mustContain(t, "same identity", r.body, "Nothing breaks on the 2 agents evaluated", `id="pf-edge01"`, `id="pf-edge02"`)

	key, _ := other.KeyPEM()
	for name, b := range map[string][]byte{"pfx": renewaltest.PFX(t, other, "pw"), "pem with key": append(other.ChainPEM(), key...)} {
		r := upload(t, h, f.token, csrf, "x.pfx", b, map[string]string{"key_source": "pfx"})
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "does not accept") || !strings.Contains(r.body, `id="pf-error"`) || strings.Contains(r.body, "PRIVATE KEY-----") {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}

	for name, c := range map[string]struct {
		token, csrf string
		cert        []byte
		want        int
	}{
		"not signed in":  {"", csrf, other.ChainPEM(), http.StatusUnauthorized},
		"no form token":  {f.token, "", other.ChainPEM(), http.StatusForbidden},
		"foreign token":  {f.token, csrfToken("another session"), other.ChainPEM(), http.StatusForbidden},
		"no file":        {f.token, csrf, nil, http.StatusUnprocessableEntity},
		"oversized file": {f.token, csrf, make([]byte, maxPreflightForm+1), http.StatusRequestEntityTooLarge},
	} {
		if r := upload(t, h, c.token, c.csrf, "mail.cer", c.cert, map[string]string{"key_source": "pfx"}); r.code != c.want {
			t.Errorf("%s: %d, want %d", name, r.code, c.want)
		}
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("csrf", csrf)
	_ = mw.Close()
	if w := do(h, "POST", "/preflight", &b, map[string]string{"Content-Type": mw.FormDataContentType(), "Origin": "http://evil.example", "Cookie": CookieName + "=" + f.token}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site post: %d", w.Code)
	}
}
