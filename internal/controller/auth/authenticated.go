package auth

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// HTTPAuthenticated checks that an HTTP request carries a valid API token
// (or the bootstrap token), whatever its scopes. The HTTP port calls it
// before it reads a request body, so that only known callers can make a
// node read one; what the token may do is decided afterwards, per method.
// In insecure mode every request passes.
func (a *Authenticator) HTTPAuthenticated(r *http.Request) error {
	if a.cfg.Insecure {
		return nil
	}
	ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", r.Header.Get("Authorization")))
	if _, err := a.tokenPrincipal(ctx); err != nil {
		return errors.New(status.Convert(err).Message())
	}
	return nil
}
