package store

import (
	"crypto/subtle"
	"errors"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Sentinel errors of the credential state, returned by the FSM for
// ConsumeJoinToken and by lookups.
var (
	ErrTokenUnknown = errors.New("store: unknown token")
	ErrTokenRevoked = errors.New("store: token revoked")
	ErrTokenExpired = errors.New("store: token expired")
	ErrTokenUsedUp  = errors.New("store: token has no enrollments left")
	ErrTokenKind    = errors.New("store: wrong kind of token")
)

// authState holds tokens (hashed secrets only) and revoked agents. It is
// guarded by State.mu; stored messages are replaced, never mutated.
type authState struct {
	tokens  map[string]*mxv1.Token
	revoked map[string]*mxv1.RevokedAgent
}

func newAuthState() authState {
	return authState{tokens: map[string]*mxv1.Token{}, revoked: map[string]*mxv1.RevokedAgent{}}
}

func authFromSnapshot(snap *mxv1.StateSnapshot) authState {
	a := newAuthState()
	for _, t := range snap.GetTokens() {
		a.tokens[t.GetId()] = t
	}
	for _, r := range snap.GetRevokedAgents() {
		a.revoked[r.GetAgentId()] = r
	}
	return a
}

func (a authState) snapshot() ([]*mxv1.Token, []*mxv1.RevokedAgent) {
	ts := make([]*mxv1.Token, 0, len(a.tokens))
	for _, t := range a.tokens {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].GetId() < ts[j].GetId() })
	rs := make([]*mxv1.RevokedAgent, 0, len(a.revoked))
	for _, r := range a.revoked {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].GetAgentId() < rs[j].GetAgentId() })
	return ts, rs
}

// ConsumeResult is the FSM's answer to ConsumeJoinToken.
type ConsumeResult struct {
	Site string
	Err  error
}

func (s *State) applyAuth(cmd *mxv1.Command) any {
	at := cmd.GetProposedAt()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch k := cmd.GetKind().(type) {
	case *mxv1.Command_CreateToken:
		t := k.CreateToken.GetToken()
		if t.GetId() != "" {
			s.auth.tokens[t.GetId()] = t
		}
	case *mxv1.Command_RevokeToken:
		if t, ok := s.auth.tokens[k.RevokeToken.GetId()]; ok {
			c := proto.CloneOf(t)
			c.Revoked = true
			s.auth.tokens[c.GetId()] = c
			return nil
		}
		return ErrTokenUnknown
	case *mxv1.Command_RevokeAgent:
		id := k.RevokeAgent.GetAgentId()
		if id != "" {
			s.auth.revoked[id] = &mxv1.RevokedAgent{AgentId: id, RevokedAt: at, RevokedBy: k.RevokeAgent.GetRevokedBy()}
		}
	case *mxv1.Command_ConsumeJoinToken:
		c := k.ConsumeJoinToken
		t, ok := s.auth.tokens[c.GetId()]
		switch {
		case !ok || subtle.ConstantTimeCompare(t.GetSecretHash(), c.GetSecretHash()) != 1:
			return ConsumeResult{Err: ErrTokenUnknown}
		case t.GetKind() != mxv1.TokenKind_TOKEN_KIND_JOIN:
			return ConsumeResult{Err: ErrTokenKind}
		case t.GetRevoked():
			return ConsumeResult{Err: ErrTokenRevoked}
		case t.GetExpiresAt() != nil && !at.AsTime().Before(t.GetExpiresAt().AsTime()):
			return ConsumeResult{Err: ErrTokenExpired}
		case t.GetUsesLeft() == 0:
			return ConsumeResult{Err: ErrTokenUsedUp}
		}
		if t.GetUsesLeft() > 0 {
			n := proto.CloneOf(t)
			n.UsesLeft--
			s.auth.tokens[n.GetId()] = n
		}
		return ConsumeResult{Site: t.GetSite()}
	}
	return nil
}

// Token returns a stored token by id, or nil.
func (s *State) Token(id string) *mxv1.Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.auth.tokens[id]
}

// Tokens lists tokens sorted by id.
func (s *State) Tokens() []*mxv1.Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts, _ := s.auth.snapshot()
	return ts
}

// AgentRevoked reports whether a certificate issued to agent id at issuedAt
// is revoked: revocation covers every certificate issued up to that moment,
// so an agent enrolled again afterwards (with a new join token) works.
func (s *State) AgentRevoked(id string, issuedAt time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.auth.revoked[id]
	return ok && !issuedAt.After(r.GetRevokedAt().AsTime())
}
