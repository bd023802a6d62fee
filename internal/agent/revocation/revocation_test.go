package revocation

import (
	"context"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mxprobe/mxprobe/internal/lab"
)

type pki struct {
	root  *lab.CA
	inter *lab.CA
	resp  *lab.RevocationResponder // the intermediate's
	leaf  *lab.Issued
}

// newPKI: root -> intermediate (checked against the root's responder) ->
// leaf (checked against the intermediate's), AIA and CDP pointing at
// loopback responders; urls overrides the leaf's.
func newPKI(t *testing.T, ocspURLs, crlURLs []string) pki {
	t.Helper()
	root, err := lab.NewCA("mxprobe revocation root")
	if err != nil {
		t.Fatal(err)
	}
	rootResp, err := lab.NewRevocationResponder(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rootResp.Close() })
	is, err := root.Issue(lab.IssueOptions{CommonName: "mxprobe issuing CA", IsCA: true,
		OCSPServer: []string{rootResp.OCSPURL()}, CRLDistributionPoints: []string{rootResp.CRLURL()}})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := is.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := lab.NewRevocationResponder(inter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Close() })
	leaf, err := resp.Issue(lab.IssueOptions{CommonName: "mail.fabrikam.com", OCSPServer: ocspURLs, CRLDistributionPoints: crlURLs})
	if err != nil {
		t.Fatal(err)
	}
	return pki{root: root, inter: inter, resp: resp, leaf: leaf}
}

func check(t *testing.T, c *Checker, p pki, stapled []byte) []Result {
	t.Helper()
	res := c.Check(context.Background(), append([]*x509.Certificate{p.leaf.Cert}, p.leaf.Chain[0]), []*x509.Certificate{p.root.Cert}, stapled)
	if len(res) != 2 {
		t.Fatalf("want leaf and intermediate results, got %+v", res)
	}
	return res
}

func TestOCSPGoodThenCached(t *testing.T) {
	p := newPKI(t, nil, nil)
	c := New(Options{})
	res := check(t, c, p, nil)
	if res[0].Status != Good || res[0].Method != MethodOCSP || res[0].URL != p.resp.OCSPURL() {
		t.Fatalf("leaf: %+v", res[0])
	}
	if res[1].Status != Good || res[1].Depth != 1 {
		t.Fatalf("intermediate: %+v", res[1])
	}
	n, _ := p.resp.Requests()
	check(t, c, p, nil)
	if m, _ := p.resp.Requests(); m != n {
		t.Fatalf("second check asked the responder again (%d -> %d requests)", n, m)
	}
}

func TestOCSPRevoked(t *testing.T) {
	p := newPKI(t, nil, nil)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	p.resp.Revoke(p.leaf.Cert, at, ocsp.KeyCompromise)
	r := check(t, New(Options{}), p, nil)[0]
	if r.Status != Revoked || r.Method != MethodOCSP || r.Reason != ocsp.KeyCompromise || !r.RevokedAt.Equal(at) {
		t.Fatalf("%+v", r)
	}
}

func TestCRLWhenOCSPDown(t *testing.T) {
	p := newPKI(t, nil, nil)
	p.resp.SetOCSPDown(true)
	r := check(t, New(Options{}), p, nil)[0]
	if r.Status != Good || r.Method != MethodCRL || r.URL != p.resp.CRLURL() {
		t.Fatalf("%+v", r)
	}
	if len(r.Attempts) != 1 || r.Attempts[0].Method != MethodOCSP || !strings.Contains(r.Attempts[0].Err, "503") {
		t.Fatalf("attempts %+v", r.Attempts)
	}
	p.resp.Revoke(p.leaf.Cert, time.Now().Add(-time.Minute), ocsp.Superseded)
	r = check(t, New(Options{}), p, nil)[0]
	if r.Status != Revoked || r.Method != MethodCRL || r.Reason != ocsp.Superseded {
		t.Fatalf("%+v", r)
	}
}

func TestStapledAnswerNeedsNoNetwork(t *testing.T) {
	p := newPKI(t, nil, nil)
	staple, err := p.resp.Staple(p.leaf.Cert)
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, New(Options{}), p, staple)[0]
	if r.Status != Good || r.Method != MethodStapled {
		t.Fatalf("%+v", r)
	}
	if n, _ := p.resp.Requests(); n != 0 {
		t.Fatalf("leaf's responder asked %d times despite the staple", n)
	}
	p.resp.Revoke(p.leaf.Cert, time.Now().Add(-time.Minute), ocsp.KeyCompromise)
	staple, _ = p.resp.Staple(p.leaf.Cert)
	if r := check(t, New(Options{}), p, staple)[0]; r.Status != Revoked || r.Method != MethodStapled {
		t.Fatalf("%+v", r)
	}
	// A staple for another certificate is not taken for this one.
	other, _ := p.inter.Issue(lab.IssueOptions{CommonName: "other.fabrikam.com"})
	wrong, _ := p.resp.Staple(other.Cert)
	r = check(t, New(Options{}), p, wrong)[0]
	if r.Method != MethodOCSP || len(r.Attempts) == 0 || r.Attempts[0].Method != MethodStapled {
		t.Fatalf("wrong staple: %+v", r)
	}
}

func closedURL(t *testing.T, path string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + path
	_ = l.Close()
	return u
}

// An Edge server in a DMZ: neither the responder nor the CRL answers.
func TestUnreachableNamesEveryURL(t *testing.T) {
	o, crl := closedURL(t, "/ocsp"), closedURL(t, "/crl")
	p := newPKI(t, []string{o}, []string{crl})
	c := New(Options{})
	r := check(t, c, p, nil)[0]
	if r.Status != Unavailable || len(r.Attempts) != 2 || r.Attempts[0].URL != o || r.Attempts[1].URL != crl {
		t.Fatalf("%+v", r)
	}
	// Failures are cached too: the next check reuses them.
	r = check(t, c, p, nil)[0]
	if r.Status != Unavailable || !r.Attempts[0].Cached || !r.Attempts[1].Cached {
		t.Fatalf("second check: %+v", r)
	}
}

// A responder that accepts the connection and never answers is bounded by
// the fetch deadline.
func TestSilentResponderHitsDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; _ = conn.Close() }()
		}
	}()
	u := "http://" + l.Addr().String() + "/ocsp"
	p := newPKI(t, []string{u}, []string{})
	r := check(t, New(Options{Fetch: 200 * time.Millisecond}), p, nil)[0]
	if r.Status != Unavailable || len(r.Attempts) != 1 || !strings.Contains(r.Attempts[0].Err, "deadline") && !strings.Contains(r.Attempts[0].Err, "Timeout") {
		t.Fatalf("%+v", r)
	}
}

func TestNothingToCheck(t *testing.T) {
	p := newPKI(t, []string{}, []string{})
	r := check(t, New(Options{}), p, nil)[0]
	if r.Status != NotChecked || r.Note == "" {
		t.Fatalf("%+v", r)
	}
	// Without its issuer in the chain nothing can be verified.
	res := New(Options{}).Check(context.Background(), []*x509.Certificate{p.leaf.Cert}, nil, nil)
	if len(res) != 1 || res[0].Status != NotChecked || !strings.Contains(res[0].Note, "issuer") {
		t.Fatalf("%+v", res)
	}
}

// A self-signed leaf (Exchange's default certificate, no CA flag) has no
// issuer to ask: it is skipped like a root, not reported as one whose issuer
// is missing.
func TestSelfSignedLeafIsNotChecked(t *testing.T) {
	ca, err := lab.NewCA("EDGE01")
	if err != nil {
		t.Fatal(err)
	}
	if res := New(Options{}).Check(context.Background(), []*x509.Certificate{ca.Cert}, nil, nil); len(res) != 0 {
		t.Fatalf("self-signed root: %+v", res)
	}
	self, err := ca.Issue(lab.IssueOptions{CommonName: "EDGE01", SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if self.Cert.IsCA {
		t.Fatal("the case needs a leaf without the CA flag")
	}
	if res := New(Options{}).Check(context.Background(), []*x509.Certificate{self.Cert}, nil, nil); len(res) != 0 {
		t.Fatalf("self-signed leaf: %+v", res)
	}
}
