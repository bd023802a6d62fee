package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

type loginView struct {
	Next  string
	Error string
}

// safeNext keeps redirects on this site: a path, never "//host" or "/\host".
func safeNext(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || strings.ContainsAny(s, "\r\n") {
		return "/"
	}
	return s
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Insecure {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", "Sign in", "", loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

// sameOrigin is the login form's CSRF check (with SameSite=Strict): a
// browser's POST carries Origin, which must be this very site. Clients that
// send no Origin (curl, scripts) are not browsers and cannot be forged into
// posting.
func (h *Handler) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		// Old browsers: fall back to the fetch metadata header.
		s := r.Header.Get("Sec-Fetch-Site")
		return s == "" || s == "same-origin" || s == "none"
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil || h.cfg.SecureCookie {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if h.cfg.Insecure {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	raw := strings.TrimSpace(r.PostForm.Get("token"))
	var err error = errors.New("enter an API token")
	if raw != "" && h.cfg.Auth != nil {
		_, err = h.cfg.Auth.CheckToken(r.Context(), raw, auth.ScopeRead)
	}
	if err != nil {
		h.render(w, r, http.StatusUnauthorized, "login", "Sign in", "", loginView{Next: next, Error: err.Error()})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: raw, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookie || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		http.Error(w, "cross-origin logout refused", http.StatusForbidden)
		return
	}
	h.clearCookie(w)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.cfg.SecureCookie, SameSite: http.SameSiteStrictMode})
}
