// Package web is the controller's dashboard: server-rendered HTML
// (html/template), CSS, JavaScript and fonts-free SVG charts embedded with
// go:embed, mounted at "/" on the HTTP port next to the API. It reads the
// local node's applied state (followers may lag the leader by a heartbeat),
// authenticates with the API's tokens (a login form sets an HttpOnly,
// SameSite=Strict cookie) and pushes a change counter over Server-Sent Events
// so pages update without a reload. See docs/dashboard.md.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// State is what the dashboard reads; *store.State implements it.
type State interface {
	Agents(site string) []*mxv1.Agent
	Agent(id string) *mxv1.Agent
	Findings(f store.FindingFilter) []*mxv1.ObservedFinding
	Incidents(f incident.Filter) []*mxv1.Incident
	Incident(idOrFingerprint string) *mxv1.Incident
	Results(f store.ResultFilter, after store.ResultKey, limit int) ([]*mxv1.CheckResultRecord, *store.ResultKey)
	TLSReports() []*mxv1.TLSReport
}

// TokenChecker validates a raw API token for a scope; *auth.Authenticator
// implements it.
type TokenChecker interface {
	CheckToken(ctx context.Context, raw, scope string) (string, error)
}

// Config configures the dashboard.
type Config struct {
	State State
	// AppliedIndex is the local raft applied index: the change counter the
	// live updates watch.
	AppliedIndex func() uint64
	// Auth checks tokens; required unless Insecure.
	Auth TokenChecker
	// Actions performs acknowledge, resolve and ticket references with the
	// signed-in user's token (nil: the incident page offers no actions).
	Actions Actions
	// Preflight runs the renewal pre-flight with the signed-in user's
	// token (nil: the renewal page shows the form only, disabled).
	Preflight Preflight
	// Insecure: no login, a banner on every page.
	Insecure bool
	// SecureCookie marks the session cookie Secure (the port speaks TLS).
	SecureCookie bool
	// NodeID labels the data "as of this node".
	NodeID string
	// IncidentRetention is how long resolved incidents are kept
	// (correlation retention): the trend view's incident counts further
	// back are lower bounds.
	IncidentRetention time.Duration
	// StaleAfter marks agents not seen for this long (default 2m).
	StaleAfter time.Duration
	// TLSRPTExpireAfter: a policy domain whose newest TLS-RPT report ended
	// longer ago is marked "reports stopped" on /reports (the node's
	// tlsrpt.stale_grace plus the report window; 0: tlsrpt.DefaultExpireAfter).
	TLSRPTExpireAfter time.Duration
	// PollInterval: how often an event stream checks the applied index
	// (default 500ms); MaxStream bounds one stream's life (default 5m, the
	// browser reconnects); MaxStreams bounds concurrent streams (default 64).
	PollInterval time.Duration
	MaxStream    time.Duration
	MaxStreams   int
	Now          func() time.Time
	Logger       *slog.Logger
}

// CookieName is the session cookie holding the API token.
const CookieName = "mxprobe_token"

// Handler serves the dashboard.
type Handler struct {
	cfg     Config
	mux     *http.ServeMux
	pages   map[string]*template.Template
	streams chan struct{}
}

// New returns the dashboard handler.
func New(cfg Config) *Handler {
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 2 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.MaxStream <= 0 {
		cfg.MaxStream = 5 * time.Minute
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AppliedIndex == nil {
		cfg.AppliedIndex = func() uint64 { return 0 }
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}, streams: make(chan struct{}, cfg.MaxStreams)}
	for _, name := range []string{"overview", "incident", "certificates", "agents", "agent", "trend", "reports", "preflight", "login", "error"} {
		h.pages[name] = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /ui/login", h.loginForm)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.logout)
	h.mux.Handle("GET /ui/events", h.require(http.HandlerFunc(h.events), false))
	h.mux.Handle("GET /{$}", h.require(http.HandlerFunc(h.overview), true))
	h.mux.Handle("GET /incidents/{id}", h.require(http.HandlerFunc(h.incident), true))
	h.mux.Handle("POST /incidents/{id}/{action}", h.require(http.HandlerFunc(h.action), false))
	h.mux.Handle("GET /trend", h.require(http.HandlerFunc(h.trend), true))
	h.mux.Handle("GET /certificates", h.require(http.HandlerFunc(h.certificates), true))
	h.mux.Handle("GET /reports", h.require(http.HandlerFunc(h.reports), true))
	h.mux.Handle("GET /preflight", h.require(http.HandlerFunc(h.preflight), true))
	h.mux.Handle("POST /preflight", h.require(http.HandlerFunc(h.preflightRun), false))
	h.mux.Handle("GET /agents", h.require(http.HandlerFunc(h.agents), true))
	h.mux.Handle("GET /agents/{id}", h.require(http.HandlerFunc(h.agent), true))
	h.mux.Handle("/", h.require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, http.StatusNotFound, "No such page.")
	}), true))
	return h
}

// Routes returns the patterns to mount on the controller's HTTP mux.
func (h *Handler) Routes() map[string]http.Handler { return map[string]http.Handler{"/": h} }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on POST, which the login's Origin check refuses.
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// session is who is signed in: the token's name and the raw token (which
// actions pass on to the API as their bearer credential).
type session struct{ name, raw string }

// require lets a request through with a read-scope token from the cookie
// (or an Authorization: Bearer header); otherwise pages redirect to the
// login form and other endpoints answer 401.
func (h *Handler) require(next http.Handler, page bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.Insecure {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, session{name: "insecure-mode"})))
			return
		}
		raw := ""
		if c, err := r.Cookie(CookieName); err == nil {
			raw = c.Value
		}
		if a := r.Header.Get("Authorization"); raw == "" && strings.HasPrefix(strings.ToLower(a), "bearer ") {
			raw = strings.TrimSpace(a[len("bearer "):])
		}
		var name string
		var err error = errors.New("not logged in")
		if raw != "" && h.cfg.Auth != nil {
			name, err = h.cfg.Auth.CheckToken(r.Context(), raw, "read")
		}
		if err != nil {
			if raw != "" {
				h.clearCookie(w)
			}
			if !page {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mxprobe"`)
				http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, session{name: name, raw: raw})))
	})
}

func userOf(r *http.Request) string {
	s, _ := r.Context().Value(ctxKey{}).(session)
	return s.name
}

func rawTokenOf(r *http.Request) string {
	s, _ := r.Context().Value(ctxKey{}).(session)
	return s.raw
}

// page is what the layout renders around every view.
type page struct {
	Title    string
	Nav      string
	Insecure bool
	User     string
	NodeID   string
	Applied  uint64
	AsOf     time.Time
	Live     bool
	Body     any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, body any) {
	p := page{Title: title, Nav: nav, Insecure: h.cfg.Insecure, User: userOf(r), NodeID: h.cfg.NodeID,
		Applied: h.cfg.AppliedIndex(), AsOf: h.cfg.Now().UTC(), Live: name != "login" && name != "error" && name != "preflight", Body: body}
	var b strings.Builder
	if err := h.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		h.cfg.Logger.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", http.StatusText(status), "", msg)
}
