package auth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

type tokenMap map[string]*mxv1.Token

func (m tokenMap) Token(id string) *mxv1.Token         { return m[id] }
func (m tokenMap) AgentRevoked(string, time.Time) bool { return false }

// Precheck decides from headers alone: wrong or missing credentials are
// refused, a known token is proven, an unknown well-formed one is pending,
// and methods carrying their credential in the body are unproven.
func TestPrecheck(t *testing.T) {
	id, secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	_, unknown, _ := NewSecret()
	state := tokenMap{id: {Name: "ops", Kind: mxv1.TokenKind_TOKEN_KIND_API, SecretHash: Hash(secret), Scopes: []string{ScopeRead}}}
	a := New(Config{State: state, BootstrapToken: "boot-secret"})
	bearer := func(s string) metadata.MD { return metadata.Pairs("authorization", "Bearer "+s) }
	for _, c := range []struct {
		method string
		md     metadata.MD
		want   Verdict
		code   codes.Code
	}{
		{"/mxprobe.v1.ControllerService/ListAgents", nil, Unproven, codes.Unauthenticated},
		{"/mxprobe.v1.ControllerService/ListAgents", bearer("garbage"), Unproven, codes.Unauthenticated},
		{"/mxprobe.v1.ControllerService/ListAgents", bearer(secret), Proven, codes.OK},
		{"/mxprobe.v1.AuthService/CreateToken", bearer("boot-secret"), Proven, codes.OK},
		{"/mxprobe.v1.ControllerService/ListAgents", bearer(unknown), Pending, codes.OK},
		{"/mxprobe.v1.AgentService/Enroll", nil, Unproven, codes.OK},
		{"/grpc.health.v1.Health/Check", nil, Unproven, codes.OK},
		{"/mxprobe.v1.AgentService/Connect", bearer(secret), Unproven, codes.Unavailable}, // no agent CA here
		{"/mxprobe.v1.ClusterService/Join", nil, Unproven, codes.PermissionDenied},
	} {
		v, err := a.Precheck(context.Background(), c.method, c.md)
		if v != c.want || status.Code(err) != c.code {
			t.Errorf("%s %v: %v %v, want %v %v", c.method, c.md, v, err, c.want, c.code)
		}
	}
	if v, err := New(Config{Insecure: true}).Precheck(context.Background(), "/mxprobe.v1.AgentService/Enroll", nil); v != Proven || err != nil {
		t.Errorf("insecure: %v %v, want proven", v, err)
	}
	// A caller that already waited for the token marks the context so the
	// interceptor does not wait again.
	ctx := WithCatchUpMark(context.Background())
	if caughtUp(ctx) {
		t.Fatal("marked before CaughtUp")
	}
	CaughtUp(ctx)
	if !caughtUp(ctx) {
		t.Fatal("CaughtUp did not mark")
	}
}
