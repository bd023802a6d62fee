package auth

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrScope: the token is valid but lacks the scope asked for.
var ErrScope = errors.New("auth: token lacks the scope")

// CheckToken validates a raw API token (as a login form or a cookie carries
// it) for scope and returns the token's name. It applies the same rules as
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
	return p.Name, nil
}

// Insecure reports whether the authenticator accepts anything.
func (a *Authenticator) Insecure() bool { return a.cfg.Insecure }
