package checks

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// revocationLab: a root, an issuing CA with its own loopback OCSP responder
// and CRL, and a lab SMTP server presenting a leaf of that issuing CA.
type revocationLab struct {
	root  *lab.CA
	resp  *lab.RevocationResponder
	leaf  *lab.Issued
	srv   *lab.Server
	probe string
}

func startRevocationLab(t *testing.T, ocspURLs, crlURLs []string, staple bool, revoke bool) revocationLab {
	t.Helper()
	root := newCA(t)
	is := mustIssue(t, root, lab.IssueOptions{CommonName: "Fabrikam Issuing CA", IsCA: true})
	inter, err := is.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := lab.NewRevocationResponder(inter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Close() })
	leaf, err := resp.Issue(lab.IssueOptions{CommonName: "localhost", OCSPServer: ocspURLs, CRLDistributionPoints: crlURLs})
	if err != nil {
		t.Fatal(err)
	}
	if revoke {
		resp.Revoke(leaf.Cert, time.Now().Add(-2*time.Hour), ocsp.Superseded)
	}
	opts := lab.ServerOptions{CA: inter, Hostname: "localhost", Certificate: leaf}
	if staple {
		if opts.OCSPStaple, err = resp.Staple(leaf.Cert); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := lab.Start(t.Context(), lab.Good, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return revocationLab{root: root, resp: resp, leaf: leaf, srv: srv, probe: "smtp://" + srv.Addr()}
}

func (l revocationLab) spec(t *testing.T) Spec {
	return Spec{Probes: []string{l.probe}, CAFile: writeCAFile(t, l.root), ExpectName: "localhost", ProbeTimeout: 10 * time.Second}
}

func revocationFindings(t *testing.T, res []*mxv1.CheckResult) []*mxv1.Finding {
	t.Helper()
	var out []*mxv1.Finding
	for _, f := range allFindings(res) {
		if f.Code == string(finding.CertRevoked) || f.Code == string(finding.CertRevocationUnav) {
			out = append(out, f)
		}
	}
	return out
}

// A healthy chain whose responder answers "good" is clean; the same server
// with its leaf revoked is CERT_REVOKED (ERROR) from OCSP, and from the CRL
// when the OCSP responder is down.
func TestProbeRevocation(t *testing.T) {
	good := startRevocationLab(t, nil, nil, false, false)
	if fs := allFindings(runSpec(t, good.spec(t))); len(fs) != 0 {
		t.Fatalf("healthy chain: %v", codes(fs))
	}
	if n, _ := good.resp.Requests(); n == 0 {
		t.Fatal("the OCSP responder was never asked")
	}
	for _, ocspDown := range []bool{false, true} {
		l := startRevocationLab(t, nil, nil, false, true)
		l.resp.SetOCSPDown(ocspDown)
		fs := revocationFindings(t, runSpec(t, l.spec(t)))
		if len(fs) != 1 || fs[0].Code != string(finding.CertRevoked) || fs[0].Severity != mxv1.Severity_SEVERITY_ERROR || fs[0].Subject != l.leaf.Thumbprint() {
			t.Fatalf("ocsp down %v: %v", ocspDown, fs)
		}
		method := map[bool]string{false: "ocsp", true: "crl"}[ocspDown]
		if fs[0].Evidence["method"] != method || fs[0].Evidence["reason"] != "superseded" || fs[0].Evidence["endpoint"] != l.srv.Addr() {
			t.Errorf("evidence %v", fs[0].Evidence)
		}
	}
}

// A stapled answer is used as is: no responder is asked, and a stapled
// "revoked" is an error even when the responder is unreachable.
func TestProbeRevocationStapled(t *testing.T) {
	l := startRevocationLab(t, nil, nil, true, false)
	if fs := revocationFindings(t, runSpec(t, l.spec(t))); len(fs) != 0 {
		t.Fatalf("stapled good: %v", fs)
	}
	if n, _ := l.resp.Requests(); n != 0 {
		t.Fatalf("responder asked %d times despite the staple", n)
	}
	r := startRevocationLab(t, []string{closedURL(t) + "/ocsp"}, []string{}, true, true)
	fs := revocationFindings(t, runSpec(t, r.spec(t)))
	if len(fs) != 1 || fs[0].Code != string(finding.CertRevoked) || fs[0].Evidence["method"] != "ocsp-stapled" {
		t.Fatalf("stapled revoked: %v", fs)
	}
}

// An Edge server in a DMZ: neither the OCSP responder nor the CRL is
// reachable. That is a warning naming both URLs, never "revoked" and never
// silence.
func TestProbeRevocationUnreachable(t *testing.T) {
	o, c := "http://"+closedPort(t)+"/ocsp", "http://"+closedPort(t)+"/crl"
	l := startRevocationLab(t, []string{o}, []string{c}, false, false)
	fs := revocationFindings(t, runSpec(t, l.spec(t)))
	if len(fs) != 1 || fs[0].Code != string(finding.CertRevocationUnav) || fs[0].Severity != mxv1.Severity_SEVERITY_WARNING {
		t.Fatalf("%v", fs)
	}
	if fs[0].Evidence["urls"] != o+","+c || !strings.Contains(fs[0].Summary, o) || !strings.Contains(fs[0].Summary, c) {
		t.Errorf("URLs not named: %s / %v", fs[0].Summary, fs[0].Evidence)
	}
}

func closedURL(t *testing.T) string { return "http://" + closedPort(t) }
