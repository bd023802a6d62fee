package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// enrollFSM drives the enrollment commands through the FSM as raft would.
type enrollFSM struct {
	t   *testing.T
	f   *fsm
	idx uint64
	now time.Time
}

func (e *enrollFSM) apply(cmd *mxv1.Command) any {
	e.idx++
	e.now = e.now.Add(time.Second)
	cmd.ProposedAt = timestamppb.New(e.now)
	return applyCmd(e.t, e.f, e.idx, cmd)
}

// token stores a token and returns its secret.
func (e *enrollFSM) token(t *mxv1.Token) string {
	id, secret, err := auth.NewSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	t.Id, t.SecretHash = id, auth.Hash(secret)
	if t.UsesLeft == 0 {
		t.UsesLeft = -1
	}
	e.apply(&mxv1.Command{Kind: &mxv1.Command_CreateToken{CreateToken: &mxv1.CreateToken{Token: t}}})
	return secret
}

func (e *enrollFSM) enroll(secret, agentID string) ConsumeResult {
	id, hash, err := auth.ParseSecret(secret)
	if err != nil {
		e.t.Fatal(err)
	}
	res, _ := e.apply(&mxv1.Command{Kind: &mxv1.Command_ConsumeJoinToken{ConsumeJoinToken: &mxv1.ConsumeJoinToken{Id: id, SecretHash: hash, AgentId: agentID}}}).(ConsumeResult)
	return res
}

func (e *enrollFSM) hello(agentID, site string) {
	e.apply(&mxv1.Command{Kind: &mxv1.Command_RegisterAgent{RegisterAgent: &mxv1.RegisterAgent{Hello: &mxv1.Hello{AgentId: agentID, Site: site, Hostname: agentID + "." + site}}}})
}

// The enrollment rules in the FSM: a join token mints only new ids inside
// its prefix, never an id enrolled in another site (the cross-site
// takeover), an admin's revocation frees the id for its own site, a
// re-enrollment token enrolls its one agent (moving it when its site
// differs) and supersedes the older certificates; a Hello never changes a
// site; all of it survives a snapshot.
func TestEnrollmentRefusesTakeoverAndReenrollsExplicitly(t *testing.T) {
	e := &enrollFSM{t: t, f: &fsm{state: newState(), log: quietLog()}, now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	s := e.f.state
	joinA := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-a"})
	joinB := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-b", UsesLeft: 3})
	prefixed := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-b", AgentIdPrefix: "b-"})

	first := e.enroll(joinA, "a00")
	if first.Err != nil || first.Site != "site-a" || first.ExistingSite != "" {
		t.Fatalf("first enrollment of a00: %+v", first)
	}
	e.hello("a00", "site-a")
	certA := e.now // the site-a certificate is issued after its enrollment

	// The attack: a site-b join token enrolls an id that exists in site-a.
	if r := e.enroll(joinB, "a00"); !errors.Is(r.Err, ErrAgentExists) || r.ExistingSite != "site-a" {
		t.Fatalf("site-b token enrolling a00: %+v, want ErrAgentExists naming site-a", r)
	}
	if left := s.Token(mustID(t, joinB)).GetUsesLeft(); left != 3 {
		t.Fatalf("a refused enrollment consumed the token: %d uses left", left)
	}
	// Also refused for an id that enrolled but never connected.
	if r := e.enroll(joinB, "b-new"); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := e.enroll(joinB, "b-new"); !errors.Is(r.Err, ErrAgentExists) {
		t.Fatalf("enrolling b-new twice: %+v", r)
	}
	// The prefix bounds what a token mints.
	if r := e.enroll(prefixed, "a01"); !errors.Is(r.Err, ErrAgentOutOfScope) {
		t.Fatalf("prefix b- enrolling a01: %+v", r)
	}
	if r := e.enroll(prefixed, "b-01"); r.Err != nil || r.Site != "site-b" {
		t.Fatalf("prefix b- enrolling b-01: %+v", r)
	}

	// A Hello never changes a site, even if the ingest check were bypassed.
	e.hello("a00", "site-b")
	if got := s.Agent("a00").GetSite(); got != "site-a" {
		t.Fatalf("a Hello moved a00 to %q", got)
	}

	// An admin revokes a00: a join token of its own site may enroll it
	// again, one of another site still may not.
	e.apply(&mxv1.Command{Kind: &mxv1.Command_RevokeAgent{RevokeAgent: &mxv1.RevokeAgent{AgentId: "a00", RevokedBy: "admin"}}})
	if r := e.enroll(joinB, "a00"); !errors.Is(r.Err, ErrAgentOtherSite) {
		t.Fatalf("site-b token on revoked a00: %+v", r)
	}
	joinA2 := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-a"})
	again := e.enroll(joinA2, "a00")
	if again.Err != nil {
		t.Fatalf("site-a token on revoked a00: %+v", again)
	}
	if !s.AgentRevoked("a00", certA) || s.AgentRevoked("a00", again.EnrolledAt) {
		t.Fatal("after revoke + enroll: the old certificate must be refused, the new one accepted")
	}
	// ... once: the id is taken again.
	joinA3 := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-a"})
	if r := e.enroll(joinA3, "a00"); !errors.Is(r.Err, ErrAgentExists) {
		t.Fatalf("a second join after the re-enrollment: %+v", r)
	}

	// A re-enrollment token is for its one agent; into another site it
	// moves the agent, and the certificates issued before stop working.
	re := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_REENROLL, Site: "site-b", AgentId: "a00", UsesLeft: 1})
	if r := e.enroll(re, "a01"); !errors.Is(r.Err, ErrAgentOutOfScope) {
		t.Fatalf("re-enrollment token for a00 used on a01: %+v", r)
	}
	moved := e.enroll(re, "a00")
	if moved.Err != nil || moved.Site != "site-b" || moved.ExistingSite != "site-a" {
		t.Fatalf("re-enrollment of a00 into site-b: %+v", moved)
	}
	if got := s.Agent("a00").GetSite(); got != "site-b" {
		t.Fatalf("re-enrolled a00 is in %q", got)
	}
	if site, ok := s.EnrolledSite("a00"); !ok || site != "site-b" {
		t.Fatalf("EnrolledSite(a00) = %q %v", site, ok)
	}
	if !s.AgentRevoked("a00", moved.EnrolledAt.Add(-time.Millisecond)) || s.AgentRevoked("a00", moved.EnrolledAt) {
		t.Fatal("a re-enrollment must supersede the certificates issued before it, and only those")
	}
	if r := e.enroll(re, "a00"); !errors.Is(r.Err, ErrTokenUsedUp) {
		t.Fatalf("re-enrollment token used twice: %+v", r)
	}
	// New ids still enroll with a join token.
	if r := e.enroll(joinA, "zz"); r.Err != nil || r.Site != "site-a" {
		t.Fatalf("new id zz: %+v", r)
	}

	// A join token allowed to re-enroll (hosts without durable state)
	// does so in its own site only.
	podsB := e.token(&mxv1.Token{Kind: mxv1.TokenKind_TOKEN_KIND_JOIN, Site: "site-b", AllowReenroll: true})
	if r := e.enroll(podsB, "zz"); !errors.Is(r.Err, ErrAgentOtherSite) {
		t.Fatalf("re-enrolling site-b token on zz of site-a: %+v", r)
	}
	pod := e.enroll(podsB, "b-01")
	if pod.Err != nil || pod.ExistingSite != "site-b" {
		t.Fatalf("re-enrolling site-b token on b-01 of site-b: %+v", pod)
	}
	if !s.AgentRevoked("b-01", pod.EnrolledAt.Add(-time.Millisecond)) {
		t.Fatal("re-enrollment by a join token must supersede the older certificates too")
	}

	// The enrollments are replicated state: a restored replica decides the same.
	snap := s.snapshot()
	if len(snap.GetEnrolledAgents()) != 4 {
		t.Fatalf("%d enrolled agents in the snapshot, want 4 (a00 b-new b-01 zz)", len(snap.GetEnrolledAgents()))
	}
	r := &enrollFSM{t: t, f: &fsm{state: newState(), log: quietLog()}, now: e.now, idx: e.idx}
	r.f.state.restore(snap)
	if !proto.Equal(r.f.state.snapshot(), snap) {
		t.Fatal("snapshot round trip differs")
	}
	if res := r.enroll(joinB, "b-01"); !errors.Is(res.Err, ErrAgentExists) {
		t.Fatalf("restored replica: %+v", res)
	}
}

func mustID(t *testing.T, secret string) string {
	t.Helper()
	id, _, err := auth.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
