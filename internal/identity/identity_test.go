package identity

import (
	"crypto/x509"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestOfReadsTheURIAndTheIssueTime(t *testing.T) {
	now := time.Now()
	want := Identity{AgentID: "edge01", Site: "amsterdam-1"}
	foreign, _ := url.Parse("spiffe://other/site/x/agent/y")
	got, err := Of(&x509.Certificate{URIs: []*url.URL{foreign, URI(want)}, SerialNumber: Serial(now)})
	if err != nil || got.AgentID != want.AgentID || got.Site != want.Site || !got.IssuedAt.Equal(time.Unix(0, now.UnixNano())) {
		t.Fatalf("Of = %+v, %v; want %+v issued %v", got, err, want, now)
	}
}

func TestOfIgnoresForeignAndInvalidURIs(t *testing.T) {
	for _, raw := range []string{"", "spiffe://other/site/s/agent/a", "spiffe://mxprobe/site/s/agent/a%2F..%2Fb", "spiffe://mxprobe/site/s/agents/a"} {
		c := &x509.Certificate{}
		if raw != "" {
			u, _ := url.Parse(raw)
			c.URIs = []*url.URL{u}
		}
		if id, err := Of(c); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("%q: identity %+v, %v", raw, id, err)
		}
	}
}
