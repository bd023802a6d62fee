package smtpprobe_test

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/lab"
)

func mustIssue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func chainOf(is *lab.Issued, withIssuers bool) []*x509.Certificate {
	c := []*x509.Certificate{is.Cert}
	if withIssuers {
		c = append(c, is.Chain...)
	}
	return c
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	root, err := lab.NewCA("verify root")
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.NewCA("other root")
	if err != nil {
		t.Fatal(err)
	}
	inter := mustIssue(t, root, lab.IssueOptions{CommonName: "verify inter", IsCA: true, KeyType: lab.KeyRSA})
	ica, err := inter.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := mustIssue(t, ica, lab.IssueOptions{CommonName: "mx.lab"})
	expiredWrong := mustIssue(t, root, lab.IssueOptions{CommonName: "other.lab", NotAfter: now.AddDate(0, 0, -1)})
	sha1 := mustIssue(t, ica, lab.IssueOptions{CommonName: "mx.lab", SignatureAlgorithm: x509.SHA1WithRSA})
	clientOnly := mustIssue(t, root, lab.IssueOptions{CommonName: "mx.lab", ClientAuth: true})
	// A CA that bears the server's name: its leaf's issuer and subject are
	// the same bytes, but the leaf is not signed by its own key, so the
	// missing piece is its issuer, not a self-signed certificate.
	sameName, err := lab.NewCA("mx.lab")
	if err != nil {
		t.Fatal(err)
	}
	lookalike := mustIssue(t, sameName, lab.IssueOptions{CommonName: "mx.lab", Organization: []string{"mxprobe lab"}})
	if string(lookalike.Cert.RawIssuer) != string(lookalike.Cert.RawSubject) {
		t.Fatalf("lookalike: issuer %q, subject %q: the case needs them equal", lookalike.Cert.Issuer, lookalike.Cert.Subject)
	}

	tests := []struct {
		name  string
		chain []*x509.Certificate
		roots *x509.CertPool
		want  []smtpprobe.VerifyKind
	}{
		{"full chain", chainOf(good, true), root.Pool(), nil},
		{"chain without root", chainOf(good, true)[:2], root.Pool(), nil},
		{"leaf only", chainOf(good, false), root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyIncompleteChain}},
		{"untrusted root", chainOf(good, true), other.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyUnknownAuthority}},
		{"expired and wrong name", chainOf(expiredWrong, true), root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyExpired, smtpprobe.VerifyNameMismatch}},
		{"sha1", chainOf(sha1, true), root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyWeakSignature}},
		{"client auth only", chainOf(clientOnly, true), root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyBadUsage}},
		{"leaf named like its issuer", chainOf(lookalike, false), root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyIncompleteChain}},
		{"empty", nil, root.Pool(), []smtpprobe.VerifyKind{smtpprobe.VerifyOther}},
	}
	for _, tt := range tests {
		ve := smtpprobe.VerifyChain(tt.chain, tt.roots, "mx.lab", now)
		if got := ve.Kinds(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: kinds %v, want %v (%v)", tt.name, got, tt.want, ve)
		}
		if ve != nil && (ve.Error() == "" || !ve.Has(tt.want[0]) || ve.Kind() != tt.want[0]) {
			t.Errorf("%s: accessors", tt.name)
		}
	}
}
