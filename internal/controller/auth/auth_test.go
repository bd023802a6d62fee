package auth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSecretRoundTrip(t *testing.T) {
	id, secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	gotID, hash, err := ParseSecret(secret)
	if err != nil || gotID != id || string(hash) != string(Hash(secret)) {
		t.Fatalf("ParseSecret(%q) = %q, %x, %v", secret, gotID, hash, err)
	}
	for _, bad := range []string{"", "mxp_", "mxp_zzzzzzzzzzzzzzzz_abc", "token", "mxp_0123456789abcdef", "mxp_0123_abc", strings.Repeat("a", 300)} {
		if _, _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

func TestScopesAndMethodPolicy(t *testing.T) {
	if !grants([]string{ScopeAdmin}, ScopeRead) || !grants([]string{ScopeWrite}, ScopeRead) || grants([]string{ScopeRead}, ScopeWrite) || grants(nil, ScopeRead) {
		t.Fatal("scope ranking wrong")
	}
	for method, want := range map[string]requirement{
		"/mxprobe.v1.AgentService/Connect":                  needAgentCert,
		"/mxprobe.v1.AgentService/Renew":                    needAgentCert,
		"/mxprobe.v1.AgentService/Enroll":                   needNothing,
		"/mxprobe.v1.ClusterService/Join":                   needClusterCert,
		"/mxprobe.v1.AuthService/ListTokens":                needAdmin,
		"/mxprobe.v1.ControllerService/ListFindings":        needRead,
		"/mxprobe.v1.ControllerService/GetIncident":         needRead,
		"/mxprobe.v1.ControllerService/AcknowledgeIncident": needWrite,
		"/mxprobe.v1.ControllerService/RemovePeer":          needAdmin,
		"/some.Unknown/Method":                              needAdmin,
	} {
		if got := methodNeeds(method); got != want {
			t.Errorf("%s needs %d, want %d", method, got, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	now := time.Unix(1000, 0)
	allowed := 0
	for range 10 {
		if l.allow("a", now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("burst allowed %d, want 3", allowed)
	}
	if !l.allow("b", now) {
		t.Fatal("keys share a bucket")
	}
	if !l.allow("a", now.Add(600*time.Millisecond)) {
		t.Fatal("no refill after 0.6 s at 2/s")
	}
	if l.allow("a", now.Add(600*time.Millisecond)) {
		t.Fatal("refilled more than the rate")
	}
	var off *limiter
	if !off.allow("x", now) {
		t.Fatal("nil limiter must allow")
	}
}

func TestLimiterReserveSlowsThenRefuses(t *testing.T) {
	l := newLimiter(2, 3)
	now := time.Unix(1000, 0)
	var waits []time.Duration
	for range 6 {
		w, ok := l.reserve("a", now, time.Second)
		if !ok {
			break
		}
		waits = append(waits, w)
	}
	want := []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v (burst at once, then one per 0.5 s, refused past 1 s)", waits, want)
	}
	if _, ok := l.reserve("a", now, time.Second); ok {
		t.Fatal("a refused reservation took a token")
	}
	// One second later two tokens came back: the borrowed ones are repaid.
	if w, ok := l.reserve("a", now.Add(time.Second), time.Second); !ok || w != 500*time.Millisecond {
		t.Fatalf("after 1 s: wait %v ok %v, want 500ms", w, ok)
	}
}
