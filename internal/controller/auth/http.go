package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrScope: the token is valid but lacks the scope asked for (HTTP 403).
var ErrScope = errors.New("auth: token lacks the scope")

// ErrUnauthenticated: no token, or one that is malformed, unknown,
// expired or revoked (HTTP 401).
var ErrUnauthenticated = errors.New("auth: unauthenticated")

// HTTPError answers a failed HTTPRead/HTTPAdmin check: 403 when a valid
// token lacks the scope, 401 (with a Bearer challenge) when there is no
// valid token, as the gRPC-gateway routes answer PermissionDenied and
// Unauthenticated.
func HTTPError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrScope) {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mxprobe"`)
	http.Error(w, err.Error(), http.StatusUnauthorized)
}

// CheckToken validates a raw API token (as a login form or a cookie carries
// it) for scope and returns the token's name; site-scoped tokens are
// refused (the dashboard shows every site). It applies the same rules as
// the API's bearer tokens (bootstrap token, expiry, revocation, the brief
// wait for a token this node has not applied yet). In insecure mode every
// value passes as "insecure-mode".
func (a *Authenticator) CheckToken(ctx context.Context, raw, scope string) (string, error) {
	if a.cfg.Insecure {
		return "insecure-mode", nil
	}
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+raw))
	p, err := a.tokenPrincipal(ctx)
	if err != nil {
		return "", errors.New(status.Convert(err).Message())
	}
	if !grants(p.Scopes, scope) {
		return p.Name, fmt.Errorf("%w: token %q has no %s scope", ErrScope, p.Name, scope)
	}
	if p.Site != "" {
		// The dashboard shows every site.
		return p.Name, fmt.Errorf("%w: token %q is scoped to site %s; the dashboard needs a token for every site (site tokens are for the API)", ErrScope, p.Name, p.Site)
	}
	return p.Name, nil
}

// Insecure reports whether the authenticator accepts anything.
func (a *Authenticator) Insecure() bool { return a.cfg.Insecure }
