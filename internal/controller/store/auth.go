package store

import (
	"crypto/subtle"
	"errors"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// ErrAgentExists: a join token cannot enroll an agent id that is
	// already enrolled (it would take over that agent); a re-enrollment
	// token for the id, or revoking the agent first, can.
	ErrAgentExists = errors.New("store: agent id already enrolled")
	// ErrAgentOutOfScope: the agent id is outside what the token may enroll
	// (its id prefix, or another agent's re-enrollment token).
	ErrAgentOutOfScope = errors.New("store: agent id outside the token's scope")
	// ErrAgentOtherSite: the agent id was enrolled in another site; only a
	// re-enrollment token moves an agent between sites.
	ErrAgentOtherSite = errors.New("store: agent id enrolled in another site")
)

// authState holds tokens (hashed secrets only) and revoked agents. It is
// guarded by State.mu; stored messages are replaced, never mutated.
type authState struct {
	tokens  map[string]*mxv1.Token
	revoked map[string]*mxv1.RevokedAgent
	// enrolled: the latest enrollment of each agent id.
	enrolled map[string]*mxv1.EnrolledAgent
}

func newAuthState() authState {
	return authState{tokens: map[string]*mxv1.Token{}, revoked: map[string]*mxv1.RevokedAgent{}, enrolled: map[string]*mxv1.EnrolledAgent{}}
}

func authFromSnapshot(snap *mxv1.StateSnapshot) authState {
	a := newAuthState()
	for _, t := range snap.GetTokens() {
		a.tokens[t.GetId()] = t
	}
	for _, r := range snap.GetRevokedAgents() {
		a.revoked[r.GetAgentId()] = r
	}
	for _, e := range snap.GetEnrolledAgents() {
		a.enrolled[e.GetAgentId()] = e
	}
	return a
}

func (a authState) enrolledSnapshot() []*mxv1.EnrolledAgent {
	es := make([]*mxv1.EnrolledAgent, 0, len(a.enrolled))
	for _, e := range a.enrolled {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].GetAgentId() < es[j].GetAgentId() })
	return es
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
	// EnrolledAt: certificates for the agent issued before this moment are
	// superseded; the new one must be issued at or after it.
	EnrolledAt time.Time
	// ExistingSite is the site the agent id was enrolled in before ("" for
	// a new id), for the audit log.
	ExistingSite string
	Err          error
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
		return s.consumeEnrollmentToken(k.ConsumeJoinToken, at)
	}
	return nil
}

// consumeEnrollmentToken decides one enrollment (guarded by s.mu): the
// token must be valid, and the agent id inside what it may enroll. A join
// token enrolls only new ids (or ids an admin revoked, in its own site, or
// with allow_reenroll any of its own site's) starting with its prefix; a
// re-enrollment token only its one agent id,
// which may move to the token's site. A refusal consumes nothing.
func (s *State) consumeEnrollmentToken(c *mxv1.ConsumeJoinToken, at *timestamppb.Timestamp) ConsumeResult {
	t, ok := s.auth.tokens[c.GetId()]
	switch {
	case !ok || subtle.ConstantTimeCompare(t.GetSecretHash(), c.GetSecretHash()) != 1:
		return ConsumeResult{Err: ErrTokenUnknown}
	case t.GetKind() != mxv1.TokenKind_TOKEN_KIND_JOIN && t.GetKind() != mxv1.TokenKind_TOKEN_KIND_REENROLL:
		return ConsumeResult{Err: ErrTokenKind}
	case t.GetRevoked():
		return ConsumeResult{Err: ErrTokenRevoked}
	case t.GetExpiresAt() != nil && !at.AsTime().Before(t.GetExpiresAt().AsTime()):
		return ConsumeResult{Err: ErrTokenExpired}
	case t.GetUsesLeft() == 0:
		return ConsumeResult{Err: ErrTokenUsedUp}
	}
	id := c.GetAgentId()
	existing, exists := s.enrolledSiteLocked(id)
	res := ConsumeResult{Site: t.GetSite(), EnrolledAt: at.AsTime(), ExistingSite: existing}
	if t.GetKind() == mxv1.TokenKind_TOKEN_KIND_REENROLL {
		if id != t.GetAgentId() {
			res.Err = ErrAgentOutOfScope
			return res
		}
	} else {
		switch {
		case !strings.HasPrefix(id, t.GetAgentIdPrefix()):
			res.Err = ErrAgentOutOfScope
			return res
		case exists && existing != t.GetSite():
			// Never across sites, revoked or not: that takes a
			// re-enrollment token.
			if s.revokedSinceEnrollmentLocked(id) || t.GetAllowReenroll() {
				res.Err = ErrAgentOtherSite
			} else {
				res.Err = ErrAgentExists
			}
			return res
		case exists && !s.revokedSinceEnrollmentLocked(id) && !t.GetAllowReenroll():
			res.Err = ErrAgentExists
			return res
		}
	}
	if t.GetUsesLeft() > 0 {
		n := proto.CloneOf(t)
		n.UsesLeft--
		s.auth.tokens[n.GetId()] = n
	}
	s.auth.enrolled[id] = &mxv1.EnrolledAgent{AgentId: id, Site: t.GetSite(), EnrolledAt: at, TokenId: t.GetId()}
	if a := s.agents[id]; a != nil && a.GetSite() != t.GetSite() {
		// A re-enrollment into another site moves the agent (and only
		// that: a Hello never changes a site).
		m := proto.CloneOf(a)
		m.Site = t.GetSite()
		s.agents[id] = m
		s.changes.agent(id)
	}
	return res
}

// enrolledSiteLocked returns the site an agent id is known in: its latest
// enrollment, else its registration (agents enrolled before enrollments
// were recorded).
func (s *State) enrolledSiteLocked(id string) (string, bool) {
	if e, ok := s.auth.enrolled[id]; ok {
		return e.GetSite(), true
	}
	if a, ok := s.agents[id]; ok {
		return a.GetSite(), true
	}
	return "", false
}

// revokedSinceEnrollmentLocked: an admin revoked the agent after its latest
// enrollment, which frees the id for a join token of its site.
func (s *State) revokedSinceEnrollmentLocked(id string) bool {
	r, ok := s.auth.revoked[id]
	if !ok {
		return false
	}
	e, ok := s.auth.enrolled[id]
	return !ok || !r.GetRevokedAt().AsTime().Before(e.GetEnrolledAt().AsTime())
}

// EnrolledSite returns the site an agent id is enrolled or registered in,
// and whether it is known at all.
func (s *State) EnrolledSite(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.enrolledSiteLocked(id)
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
// is revoked or superseded: revocation covers every certificate issued up
// to that moment, so an agent enrolled again afterwards works; an
// enrollment supersedes every certificate issued before it, so after a
// re-enrollment only the new certificate (and its renewals) works.
func (s *State) AgentRevoked(id string, issuedAt time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.auth.enrolled[id]; ok && issuedAt.Before(e.GetEnrolledAt().AsTime()) {
		return true
	}
	r, ok := s.auth.revoked[id]
	return ok && !issuedAt.After(r.GetRevokedAt().AsTime())
}
