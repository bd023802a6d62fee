package auth

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/identity"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// Tokens is the part of the replicated state auth reads.
type Tokens interface {
	Token(id string) *mxv1.Token
	AgentRevoked(id string, issuedAt time.Time) bool
}

// Config configures the authenticator.
type Config struct {
	// Insecure disables every check (dev/demo or an explicit setting).
	Insecure bool
	State    Tokens
	AgentCA  *pki.CA
	// ClusterPool verifies other controller nodes' certificates.
	ClusterPool *x509.CertPool
	// BootstrapToken is an admin credential from configuration (may be empty).
	BootstrapToken string
	// API calls per second (and burst) per token; agent streams' batches
	// per second per agent. Zero disables a limit.
	TokenRate, TokenBurst float64
	AgentRate, AgentBurst float64
	Now                   func() time.Time
}

// Authenticator implements the policy as gRPC interceptors.
type Authenticator struct {
	cfg        Config
	bootstrap  []byte
	tokenLimit *limiter
	agentLimit *limiter
}

// New returns an authenticator.
func New(cfg Config) *Authenticator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg, tokenLimit: newLimiter(cfg.TokenRate, cfg.TokenBurst), agentLimit: newLimiter(cfg.AgentRate, cfg.AgentBurst)}
	if cfg.BootstrapToken != "" {
		a.bootstrap = Hash(cfg.BootstrapToken)
	}
	return a
}

// TokenCatchUp bounds the wait for a token this node has not applied yet.
const TokenCatchUp = 1500 * time.Millisecond

type ctxKey int

const (
	principalKey ctxKey = iota
	identityKey
)

// Principal is who called: an API token's name, "bootstrap", a node or an agent.
type Principal struct {
	Name   string
	Scopes []string
	// Site limits an API token to one site's data ("" for every site).
	Site string
}

// SiteScope returns the one site the caller's API token may read and
// change, or "" when it may see every site (unscoped tokens, bootstrap,
// insecure mode, nodes).
func SiteScope(ctx context.Context) string {
	p, _ := ctx.Value(principalKey).(Principal)
	return p.Site
}

// WithPrincipal returns ctx carrying p, as the interceptors set it (for
// tests of handlers and for in-process callers).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// Actor names the caller for audit trails (incident timelines).
func Actor(ctx context.Context) string {
	if p, ok := ctx.Value(principalKey).(Principal); ok && p.Name != "" {
		return p.Name
	}
	return "anonymous"
}

// AgentIdentity returns the identity of an agent caller (from its certificate).
func AgentIdentity(ctx context.Context) (identity.Identity, bool) {
	id, ok := ctx.Value(identityKey).(identity.Identity)
	return id, ok
}

// maxBatchDelay bounds how long one batch is held back by the per-agent
// rate limit; an agent that would need more (several streams flooding at
// once) is refused.
const maxBatchDelay = 5 * time.Second

// ReserveBatch applies the per-agent rate limit to one result batch: how
// long to hold it before committing (0: at once), or false when the agent
// is so far over its rate that it is refused. An agent replaying a spool
// after an outage is slowed to its rate by this delay (its stream reads
// nothing meanwhile), not disconnected.
func (a *Authenticator) ReserveBatch(agentID string) (time.Duration, bool) {
	return a.agentLimit.reserve(agentID, a.cfg.Now(), maxBatchDelay)
}

// Unary is the unary server interceptor.
func (a *Authenticator) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// Stream is the stream server interceptor.
func (a *Authenticator) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (a *Authenticator) authorize(ctx context.Context, method string) (context.Context, error) {
	if a.cfg.Insecure {
		return context.WithValue(ctx, principalKey, Principal{Name: "insecure-mode", Scopes: []string{ScopeAdmin}}), nil
	}
	switch need := methodNeeds(method); need {
	case needNothing:
		return ctx, nil
	case needAgentCert:
		chain := verifiedPeerChain(ctx)
		if a.cfg.AgentCA == nil {
			return nil, status.Error(codes.Unavailable, "this controller has no agent CA configured")
		}
		id, err := a.cfg.AgentCA.Verify(chain, a.cfg.Now())
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "an agent certificate from the agent CA is required (run agent enroll)")
		}
		if a.cfg.State.AgentRevoked(id.AgentID, id.IssuedAt) {
			return nil, status.Errorf(codes.PermissionDenied, "agent %s is revoked, or this certificate was superseded by a newer enrollment", id.AgentID)
		}
		ctx = context.WithValue(ctx, identityKey, id)
		return context.WithValue(ctx, principalKey, Principal{Name: "agent:" + id.AgentID}), nil
	case needClusterCert:
		chain := verifiedPeerChain(ctx)
		if a.cfg.ClusterPool == nil || tlsutil.VerifyChain(chain, a.cfg.ClusterPool) != nil {
			return nil, status.Error(codes.PermissionDenied, "cluster calls need the cluster certificate")
		}
		return context.WithValue(ctx, principalKey, Principal{Name: "node:" + chain[0].Subject.CommonName}), nil
	default:
		p, err := a.tokenPrincipal(ctx)
		if err != nil {
			return nil, err
		}
		scope := map[requirement]string{needRead: ScopeRead, needWrite: ScopeWrite, needAdmin: ScopeAdmin}[need]
		if !grants(p.Scopes, scope) {
			return nil, status.Errorf(codes.PermissionDenied, "token %q lacks the %s scope for %s", p.Name, scope, method)
		}
		if p.Site != "" && need == needAdmin {
			// Admin methods (tokens, membership) are fleet-wide: a site's
			// token could otherwise mint itself an unscoped one.
			return nil, status.Errorf(codes.PermissionDenied, "token %q is scoped to site %s; %s is fleet-wide", p.Name, p.Site, method)
		}
		if !a.tokenLimit.allow(p.Name, a.cfg.Now()) {
			return nil, status.Error(codes.ResourceExhausted, "rate limit for this token exceeded; retry later")
		}
		return context.WithValue(ctx, principalKey, p), nil
	}
}

// errNoToken answers a call that carries no bearer token.
var errNoToken = status.Error(codes.Unauthenticated, "an API token is required (Authorization: Bearer mxp_...)")

// bearerToken is the last "Authorization: Bearer" value of md ("" if none).
func bearerToken(md metadata.MD) string {
	var raw string
	for _, v := range md.Get("authorization") {
		if strings.HasPrefix(strings.ToLower(v), "bearer ") {
			raw = strings.TrimSpace(v[len("bearer "):])
		}
	}
	return raw
}

func (a *Authenticator) tokenPrincipal(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	raw := bearerToken(md)
	if raw == "" {
		return Principal{}, errNoToken
	}
	if a.bootstrap != nil && subtle.ConstantTimeCompare(Hash(raw), a.bootstrap) == 1 {
		return Principal{Name: "bootstrap", Scopes: []string{ScopeAdmin}}, nil
	}
	id, hash, err := ParseSecret(raw)
	if err != nil {
		return Principal{}, status.Error(codes.Unauthenticated, "malformed API token")
	}
	t := a.cfg.State.Token(id)
	// A token created a moment ago may not be applied on this node yet
	// (followers lag the leader by a heartbeat): wait briefly for it. This
	// also slows down guessing.
	for deadline := a.cfg.Now().Add(TokenCatchUp); t == nil && !caughtUp(ctx) && a.cfg.Now().Before(deadline); t = a.cfg.State.Token(id) {
		select {
		case <-ctx.Done():
			return Principal{}, status.FromContextError(ctx.Err()).Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return checkToken(t, hash, a.cfg.Now())
}

// checkToken decides whether the stored token t (nil: none) is the API
// token whose secret hashes to hash, valid at now.
func checkToken(t *mxv1.Token, hash []byte, now time.Time) (Principal, error) {
	switch {
	case t == nil || subtle.ConstantTimeCompare(t.GetSecretHash(), hash) != 1:
		return Principal{}, status.Error(codes.Unauthenticated, "unknown API token")
	case t.GetKind() != mxv1.TokenKind_TOKEN_KIND_API:
		return Principal{}, status.Error(codes.Unauthenticated, "a join token cannot call the API")
	case t.GetRevoked():
		return Principal{}, status.Error(codes.Unauthenticated, "API token revoked")
	case t.GetExpiresAt() != nil && !now.Before(t.GetExpiresAt().AsTime()):
		return Principal{}, status.Error(codes.Unauthenticated, "API token expired")
	}
	return Principal{Name: t.GetName(), Scopes: t.GetScopes(), Site: t.GetSite()}, nil
}

func verifiedPeerChain(ctx context.Context) []*x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return nil
	}
	return ti.State.PeerCertificates
}

// HTTPRead checks an HTTP request's bearer token for the read scope (used
// for /metrics when it is not public).
func (a *Authenticator) HTTPRead(r *http.Request) error { return a.httpScope(r, ScopeRead) }

// HTTPAdmin checks an HTTP request's bearer token for the admin scope.
func (a *Authenticator) HTTPAdmin(r *http.Request) error { return a.httpScope(r, ScopeAdmin) }

func (a *Authenticator) httpScope(r *http.Request, scope string) error {
	if a.cfg.Insecure {
		return nil
	}
	ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", r.Header.Get("Authorization")))
	p, err := a.tokenPrincipal(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrUnauthenticated, status.Convert(err).Message())
	}
	if !grants(p.Scopes, scope) {
		return fmt.Errorf("%w: token %q lacks the %s scope", ErrScope, p.Name, scope)
	}
	if p.Site != "" {
		// /metrics, backup, restore and profiles cover every site.
		return fmt.Errorf("%w: token %q is scoped to site %s; this endpoint covers every site", ErrScope, p.Name, p.Site)
	}
	return nil
}
