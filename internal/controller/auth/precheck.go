package auth

import (
	"context"
	"crypto/subtle"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Verdict is what Precheck decided about a new call before its request
// message is read.
type Verdict int

const (
	// Proven: the caller's credential (client certificate or API token)
	// was verified from the connection and the call's metadata.
	Proven Verdict = iota
	// Unproven: nothing outside the message proves who calls: the method
	// carries its credential in the body (Enroll's join token) or needs
	// nothing (health). The caller bounds what such a call may make the
	// node read.
	Unproven
	// Pending: the call names an API token this node has not applied (yet:
	// it may have been created a moment ago on the leader). Asking again
	// later may prove it; until then it is unproven.
	Pending
)

// Precheck authenticates a new call from what is known before its request
// message is read: the method, the call's metadata and the connection's
// verified certificate chain. It never waits (it runs on the connection's
// reader) and takes nothing from the rate limits; a refusal is the error
// the interceptors would answer. The interceptors still authorize every
// call: Precheck only decides whether the node may read the message.
func (a *Authenticator) Precheck(ctx context.Context, method string, md metadata.MD) (Verdict, error) {
	if a.cfg.Insecure {
		return Proven, nil
	}
	switch methodNeeds(method) {
	case needNothing:
		return Unproven, nil
	case needAgentCert, needClusterCert:
		// No waits and no limits on these paths of authorize.
		if _, err := a.authorize(ctx, method); err != nil {
			return Unproven, err
		}
		return Proven, nil
	}
	raw := bearerToken(md)
	if raw == "" {
		return Unproven, errNoToken
	}
	if a.bootstrap != nil && subtle.ConstantTimeCompare(Hash(raw), a.bootstrap) == 1 {
		return Proven, nil
	}
	id, hash, err := ParseSecret(raw)
	if err != nil {
		return Unproven, status.Error(codes.Unauthenticated, "malformed API token")
	}
	t := a.cfg.State.Token(id)
	if t == nil {
		return Pending, nil
	}
	if _, err := checkToken(t, hash, a.cfg.Now()); err != nil {
		return Unproven, err
	}
	return Proven, nil
}

type waitedKey struct{}

// WithCatchUpMark returns ctx carrying a mark that CaughtUp sets once the
// caller has waited for this call's token to be applied; the interceptors
// then do not wait for it a second time.
func WithCatchUpMark(ctx context.Context) context.Context {
	return context.WithValue(ctx, waitedKey{}, new(atomic.Bool))
}

// CaughtUp records that the call's token was waited for (see
// WithCatchUpMark).
func CaughtUp(ctx context.Context) {
	if m, ok := ctx.Value(waitedKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
}

func caughtUp(ctx context.Context) bool {
	m, ok := ctx.Value(waitedKey{}).(*atomic.Bool)
	return ok && m.Load()
}
