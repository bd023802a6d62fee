package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/identity"
)

// Writer is the part of the node the credential API writes through.
type Writer interface {
	IsLeader() bool
	Apply(ctx context.Context, cmd *mxv1.Command) (any, error)
	State() *store.State
}

// AuthService implements mxprobe.v1.AuthService.
type AuthService struct {
	mxv1.UnimplementedAuthServiceServer
	node    Writer
	cluster Cluster
	now     func() time.Time
}

// NewAuthService returns the credential API.
func NewAuthService(node Writer, c Cluster) *AuthService {
	return &AuthService{node: node, cluster: c, now: time.Now}
}

// forwardAuth returns the leader's AuthService client (nil when this node leads).
func (a *AuthService) forwardAuth(ctx context.Context) (mxv1.AuthServiceClient, context.Context, context.CancelFunc, error) {
	if a.node.IsLeader() {
		return nil, ctx, func() {}, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedKey)) > 0 {
		return nil, ctx, nil, status.Error(codes.Unavailable, "not the leader (forwarded call)")
	}
	conn, err := a.cluster.LeaderConn()
	if err != nil {
		return nil, ctx, nil, status.Error(codes.Unavailable, err.Error())
	}
	fctx, cancel := context.WithTimeout(forwardMetadata(ctx), forwardTimeout)
	return mxv1.NewAuthServiceClient(conn), fctx, cancel, nil
}

// CreateToken creates a join or API token; the secret is returned once.
func (a *AuthService) CreateToken(ctx context.Context, req *mxv1.CreateTokenRequest) (*mxv1.CreateTokenResponse, error) {
	if err := validateCreateToken(req); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cl, fctx, cancel, err := a.forwardAuth(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if cl != nil {
		return cl.CreateToken(fctx, req)
	}
	id, secret, err := auth.NewSecret()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	now := a.now()
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	uses := req.GetUses()
	if ttl == 0 {
		ttl = 24 * time.Hour
		if req.GetKind() == mxv1.TokenKind_TOKEN_KIND_API {
			ttl = 365 * 24 * time.Hour
		}
	}
	if req.GetKind() == mxv1.TokenKind_TOKEN_KIND_JOIN && uses == 0 {
		uses = 1
	}
	site := req.GetSite()
	if req.GetKind() == mxv1.TokenKind_TOKEN_KIND_REENROLL {
		// One re-enrollment of one known agent, into its site unless the
		// admin names another.
		uses = 1
		current, known := a.node.State().EnrolledSite(req.GetAgentId())
		if !known {
			return nil, status.Errorf(codes.NotFound, "agent %s is not enrolled: enroll it with a join token", req.GetAgentId())
		}
		if site == "" {
			site = current
		}
	}
	if req.GetKind() == mxv1.TokenKind_TOKEN_KIND_API {
		uses = -1
	}
	t := &mxv1.Token{
		Id: id, Kind: req.GetKind(), Name: req.GetName(), Site: site, Scopes: req.GetScopes(),
		SecretHash: auth.Hash(secret), CreatedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(ttl)),
		UsesLeft: uses, CreatedBy: auth.Actor(ctx), AgentIdPrefix: req.GetAgentIdPrefix(), AgentId: req.GetAgentId(),
		AllowReenroll: req.GetAllowReenroll(),
	}
	if _, err := a.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_CreateToken{CreateToken: &mxv1.CreateToken{Token: t}}}); err != nil {
		return nil, mapErr(err)
	}
	return &mxv1.CreateTokenResponse{Token: redact(t), Secret: secret}, nil
}

// ListTokens lists tokens without their hashes.
func (a *AuthService) ListTokens(ctx context.Context, req *mxv1.ListTokensRequest) (*mxv1.ListTokensResponse, error) {
	cl, fctx, cancel, err := a.forwardAuth(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if cl != nil {
		return cl.ListTokens(fctx, req)
	}
	var out []*mxv1.Token
	for _, t := range a.node.State().Tokens() {
		out = append(out, redact(t))
	}
	return &mxv1.ListTokensResponse{Tokens: out}, nil
}

// RevokeToken revokes a token by id.
func (a *AuthService) RevokeToken(ctx context.Context, req *mxv1.RevokeTokenRequest) (*mxv1.RevokeTokenResponse, error) {
	if len(req.GetId()) != 16 {
		return nil, status.Error(codes.InvalidArgument, "id: a 16-hex-digit token id is required")
	}
	cl, fctx, cancel, err := a.forwardAuth(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if cl != nil {
		return cl.RevokeToken(fctx, req)
	}
	res, err := a.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RevokeToken{RevokeToken: &mxv1.RevokeToken{Id: req.GetId(), RevokedBy: auth.Actor(ctx)}}})
	if err != nil {
		return nil, mapErr(err)
	}
	if e, ok := res.(error); ok && errors.Is(e, store.ErrTokenUnknown) {
		return nil, status.Errorf(codes.NotFound, "no token %s", req.GetId())
	}
	return &mxv1.RevokeTokenResponse{}, nil
}

// RevokeAgent revokes every certificate issued so far to an agent.
func (a *AuthService) RevokeAgent(ctx context.Context, req *mxv1.RevokeAgentRequest) (*mxv1.RevokeAgentResponse, error) {
	if !identity.ValidID(req.GetAgentId()) {
		return nil, status.Error(codes.InvalidArgument, "agent_id: 1-128 characters of A-Z a-z 0-9 . _ -")
	}
	cl, fctx, cancel, err := a.forwardAuth(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if cl != nil {
		return cl.RevokeAgent(fctx, req)
	}
	if _, err := a.node.Apply(ctx, &mxv1.Command{Kind: &mxv1.Command_RevokeAgent{RevokeAgent: &mxv1.RevokeAgent{AgentId: req.GetAgentId(), RevokedBy: auth.Actor(ctx)}}}); err != nil {
		return nil, mapErr(err)
	}
	return &mxv1.RevokeAgentResponse{}, nil
}

func redact(t *mxv1.Token) *mxv1.Token {
	c := &mxv1.Token{}
	*c = mxv1.Token{Id: t.GetId(), Kind: t.GetKind(), Name: t.GetName(), Site: t.GetSite(), Scopes: t.GetScopes(),
		CreatedAt: t.GetCreatedAt(), ExpiresAt: t.GetExpiresAt(), UsesLeft: t.GetUsesLeft(), Revoked: t.GetRevoked(), CreatedBy: t.GetCreatedBy(),
		AgentIdPrefix: t.GetAgentIdPrefix(), AgentId: t.GetAgentId(), AllowReenroll: t.GetAllowReenroll()}
	return c
}

func validateCreateToken(req *mxv1.CreateTokenRequest) error {
	if req.GetName() == "" || len(req.GetName()) > 128 {
		return errors.New("name: 1-128 characters required")
	}
	if req.GetTtlSeconds() < 0 || req.GetTtlSeconds() > 10*365*24*3600 {
		return errors.New("ttl_seconds: between 0 (default) and 10 years")
	}
	switch req.GetKind() {
	case mxv1.TokenKind_TOKEN_KIND_JOIN:
		if !identity.ValidID(req.GetSite()) {
			return errors.New("site: a join token is scoped to one site (1-128 characters of A-Z a-z 0-9 . _ -)")
		}
		if len(req.GetScopes()) > 0 {
			return errors.New("scopes: only API tokens have scopes")
		}
		if req.GetUses() < -1 || req.GetUses() > 100000 {
			return errors.New("uses: -1 (unlimited until expiry) or 1..100000")
		}
		if p := req.GetAgentIdPrefix(); p != "" && !identity.ValidID(p) {
			return errors.New("agent_id_prefix: up to 128 characters of A-Z a-z 0-9 . _ -")
		}
		if req.GetAgentId() != "" {
			return errors.New("agent_id: only re-enrollment tokens name an agent (kind TOKEN_KIND_REENROLL)")
		}
	case mxv1.TokenKind_TOKEN_KIND_REENROLL:
		if !identity.ValidID(req.GetAgentId()) {
			return errors.New("agent_id: a re-enrollment token is for one agent id (1-128 characters of A-Z a-z 0-9 . _ -)")
		}
		if req.GetSite() != "" && !identity.ValidID(req.GetSite()) {
			return errors.New("site: 1-128 characters of A-Z a-z 0-9 . _ - (default: the agent's current site)")
		}
		if len(req.GetScopes()) > 0 || req.GetAgentIdPrefix() != "" || req.GetAllowReenroll() {
			return errors.New("scopes, agent_id_prefix, allow_reenroll: not for re-enrollment tokens")
		}
		if req.GetUses() != 0 && req.GetUses() != 1 {
			return errors.New("uses: a re-enrollment token is single-use")
		}
	case mxv1.TokenKind_TOKEN_KIND_API:
		if len(req.GetScopes()) == 0 {
			return errors.New("scopes: at least one of read, write, admin")
		}
		for _, s := range req.GetScopes() {
			if !auth.ValidScope(s) {
				return fmt.Errorf("scopes: unknown scope %q (read, write, admin)", s)
			}
		}
		if req.GetSite() != "" && !identity.ValidID(req.GetSite()) {
			return errors.New("site: 1-128 characters of A-Z a-z 0-9 . _ - (the one site the token may see; empty for all)")
		}
		if req.GetSite() != "" && slices.Contains(req.GetScopes(), auth.ScopeAdmin) {
			return errors.New("scopes: admin is fleet-wide (tokens, membership, backup); a site-scoped token has read or write")
		}
		if req.GetAgentId() != "" || req.GetAgentIdPrefix() != "" || req.GetAllowReenroll() {
			return errors.New("agent_id, agent_id_prefix, allow_reenroll: only for join and re-enrollment tokens")
		}
	default:
		return errors.New("kind: TOKEN_KIND_JOIN, TOKEN_KIND_REENROLL or TOKEN_KIND_API")
	}
	return nil
}
