package dane

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// sameKeyRenewal re-issues leaf from inter with the same key pair, later.
func sameKeyRenewal(t *testing.T, f fixture, notBefore time.Time) *x509.Certificate {
	t.Helper()
	tpl := *f.leaf.Cert
	tpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tpl.NotBefore, tpl.NotAfter = notBefore, notBefore.Add(365*24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, &tpl, f.inter.Cert, f.leaf.Key.Public(), f.inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The rollover rule: a renewal is the same subject and names issued later;
// a 3 1 1 record matches it only when the key is kept, a 2 1 1 record of
// the issuing CA whatever the key, also for a renewal not yet valid (the
// chain is validated when it can enter service).
func TestSuccessorAndMatchNext(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	later := now.Add(24 * time.Hour)
	renewed, err := f.inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab", NotBefore: later})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab", DNSNames: []string{"mail.contoso.lab", "autodiscover.contoso.lab"}, NotBefore: later})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := f.inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab", NotBefore: f.leaf.Cert.NotBefore.Add(time.Second), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	kept := sameKeyRenewal(t, f, later)
	for name, c := range map[string]struct {
		cert *x509.Certificate
		want bool
	}{
		"renewal, new key": {renewed.Cert, true}, "renewal, same key": {kept, true}, "itself": {f.leaf.Cert, false}, "other names": {other.Cert, false},
		"expired": {expired.Cert, false}, "the CA": {f.inter.Cert, false},
	} {
		if got := Successor(f.leaf.Cert, c.cert, now); got != c.want {
			t.Errorf("%s: Successor = %v", name, got)
		}
	}
	if Successor(renewed.Cert, f.leaf.Cert, now) {
		t.Error("an older certificate counted as the renewal")
	}
	ee := rec(t, f.leaf.Cert, UsageDANEEE, SelectorSPKI, MatchingSHA256)
	o := Options{Names: []string{"mail.contoso.lab"}, Now: now}
	if r, ok := MatchNext([]Record{ee}, kept, chainOf(f.leaf)[1:], o); !ok || r.String() != ee.String() {
		t.Errorf("same key: %v %v", r, ok)
	}
	if _, ok := MatchNext([]Record{ee}, renewed.Cert, chainOf(f.leaf)[1:], o); ok {
		t.Error("a new key matched the old 3 1 1 record")
	}
	ta := rec(t, f.inter.Cert, UsageDANETA, SelectorSPKI, MatchingSHA256)
	if _, ok := MatchNext([]Record{ee, ta}, other.Cert, chainOf(f.leaf)[1:], o); !ok {
		t.Error("2 1 1 of the issuing CA did not match a renewal valid only from tomorrow")
	}
	if _, ok := MatchNext([]Record{ta}, other.Cert, nil, o); ok {
		t.Error("DANE-TA matched without the anchor in the chain")
	}
}
