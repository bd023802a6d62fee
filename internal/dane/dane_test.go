package dane

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxprobe/mxprobe/internal/lab"
)

type fixture struct {
	root, inter *lab.CA
	leaf, next  *lab.Issued
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root, err := lab.NewCA("dane root")
	if err != nil {
		t.Fatal(err)
	}
	ii, err := root.Issue(lab.IssueOptions{CommonName: "dane issuing CA", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ii.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab"}) // a renewal with a new key
	if err != nil {
		t.Fatal(err)
	}
	return fixture{root: root, inter: inter, leaf: leaf, next: next}
}

func chainOf(is *lab.Issued) []*x509.Certificate {
	return append([]*x509.Certificate{is.Cert}, is.Chain...)
}

func rec(t *testing.T, c *x509.Certificate, u, s, m uint8) Record {
	t.Helper()
	r, err := RecordFor(c, u, s, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDANEEEMatchesLeafWithEverySelectorAndMatchingType(t *testing.T) {
	f := newFixture(t)
	for _, s := range []uint8{SelectorCert, SelectorSPKI} {
		for _, m := range []uint8{MatchingFull, MatchingSHA256, MatchingSHA512} {
			r := rec(t, f.leaf.Cert, UsageDANEEE, s, m)
			res := MatchChain([]Record{r}, chainOf(f.leaf), Options{})
			if !res.Authenticated() || res.Matched[0].Depth != 0 {
				t.Errorf("3 %d %d: not matched: %+v", s, m, res)
			}
			// The renewed certificate has a new key: the old record does not match it.
			if res := MatchCertificate([]Record{r}, f.next.Cert, f.next.Chain, Options{}); res.Authenticated() || len(res.Failed) != 1 {
				t.Errorf("3 %d %d matched the renewed certificate: %+v", s, m, res)
			}
		}
	}
}

func TestDANEEEIgnoresExpiryAndName(t *testing.T) {
	f := newFixture(t)
	expired, err := f.inter.Issue(lab.IssueOptions{CommonName: "other.example", NotAfter: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	r := rec(t, expired.Cert, UsageDANEEE, SelectorSPKI, MatchingSHA256)
	if res := MatchChain([]Record{r}, chainOf(expired), Options{Names: []string{"mail.contoso.lab"}}); !res.Authenticated() {
		t.Fatalf("DANE-EE must ignore expiry and names (RFC 7672 3.1.1): %+v", res)
	}
}

func TestDANETAMatchesIssuerInChainAndChecksNameAndExpiry(t *testing.T) {
	f := newFixture(t)
	ta := rec(t, f.inter.Cert, UsageDANETA, SelectorSPKI, MatchingSHA256)
	names := Options{Names: []string{"mail.contoso.lab."}}
	res := MatchChain([]Record{ta}, chainOf(f.leaf), names)
	if !res.Authenticated() || res.Matched[0].Depth != 1 {
		t.Fatalf("2 1 1 on the issuing CA: %+v", res)
	}
	// The renewal from the same CA still matches: a TA record survives renewals.
	if res := MatchCertificate([]Record{ta}, f.next.Cert, f.next.Chain, names); !res.Authenticated() {
		t.Fatalf("renewal from the same CA: %+v", res)
	}
	// Wrong name.
	if res := MatchChain([]Record{ta}, chainOf(f.leaf), Options{Names: []string{"mx2.contoso.lab"}}); res.Authenticated() || !strings.Contains(res.Failed[0].Reason, "carries none") {
		t.Fatalf("name mismatch accepted: %+v", res)
	}
	// Leaf only (anchor not sent): no match.
	if res := MatchChain([]Record{ta}, []*x509.Certificate{f.leaf.Cert}, names); res.Authenticated() || !strings.Contains(res.Failed[0].Reason, "above the leaf") {
		t.Fatalf("anchor not in chain accepted: %+v", res)
	}
	// Expired leaf under a TA record fails.
	exp, err := f.inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.lab", NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res := MatchChain([]Record{ta}, chainOf(exp), names); res.Authenticated() || !strings.Contains(res.Failed[0].Reason, "does not verify") {
		t.Fatalf("expired leaf accepted under DANE-TA: %+v", res)
	}
	// A TA record for another CA.
	other, _ := lab.NewCA("other")
	if res := MatchChain([]Record{rec(t, other.Cert, UsageDANETA, SelectorCert, MatchingSHA256)}, chainOf(f.leaf), names); res.Authenticated() {
		t.Fatalf("foreign TA accepted: %+v", res)
	}
}

func TestUnusableRecords(t *testing.T) {
	f := newFixture(t)
	pkix := rec(t, f.leaf.Cert, UsagePKIXEE, SelectorSPKI, MatchingSHA256)
	pkixTA := rec(t, f.root.Cert, UsagePKIXTA, SelectorCert, MatchingSHA256)
	short := Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2, 3}}
	unknown := Record{Usage: 3, Selector: 7, MatchingType: 1, Data: make([]byte, 32)}
	res := MatchChain([]Record{pkix, pkixTA, short, unknown}, chainOf(f.leaf), Options{})
	if res.Authenticated() || !res.NoUsable() || len(res.Unusable) != 4 {
		t.Fatalf("unusable records: %+v", res)
	}
	for _, u := range res.Unusable {
		if !errors.Is(u.Reason, ErrUnusable) {
			t.Errorf("%v: reason %v does not wrap ErrUnusable", u.Record, u.Reason)
		}
	}
	if !strings.Contains(res.Unusable[0].Reason.Error(), "not for SMTP") {
		t.Errorf("usage 1 reason: %v", res.Unusable[0].Reason)
	}
	// A usable record next to unusable ones decides.
	good := rec(t, f.leaf.Cert, UsageDANEEE, SelectorSPKI, MatchingSHA256)
	if res := MatchChain([]Record{pkix, good}, chainOf(f.leaf), Options{}); !res.Authenticated() || res.NoUsable() {
		t.Fatalf("mixed set: %+v", res)
	}
	if res := MatchChain([]Record{good}, nil, Options{}); res.Authenticated() || len(res.Failed) != 1 {
		t.Fatalf("empty chain: %+v", res)
	}
}

func TestFromRR(t *testing.T) {
	f := newFixture(t)
	want := rec(t, f.leaf.Cert, UsageDANEEE, SelectorSPKI, MatchingSHA256)
	rr, err := dns.NewRR("_25._tcp.mail.contoso.lab. 300 IN TLSA " + want.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromRR(rr.(*dns.TLSA))
	if err != nil || got.String() != want.String() {
		t.Fatalf("FromRR = %v, %v; want %v", got, err, want)
	}
	if _, err := FromRR(&dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: "zz"}); !errors.Is(err, ErrUnusable) {
		t.Fatalf("bad hex: %v", err)
	}
}

func TestFindNDRs(t *testing.T) {
	le := `[{LED=450 4.7.323 tlsa-invalid: The domain failed DANE validation.};{MSG=};{FQDN=mail.fabrikam.com};{IP=203.0.113.7};{LRT=12/1/2026 9:14:03 AM}]`
	got := FindNDRs(le)
	if len(got) != 1 || got[0].Code != "4.7.323" || got[0].Result != "tlsa-invalid" || got[0].Permanent {
		t.Fatalf("FindNDRs = %+v", got)
	}
	two := "550 5.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE); earlier 450 4.7.322 certificate-expired: Destination mail server's certificate is expired."
	got = FindNDRs(two)
	if len(got) != 2 || got[0].Code != "5.7.325" || !got[0].Permanent || got[1].Result != "certificate-expired" {
		t.Fatalf("FindNDRs = %+v", got)
	}
	for _, none := range []string{"agent 5.7.321 released", "451 4.4.395 Target host responded with error.", "15.7.3210 dane", ""} {
		if got := FindNDRs(none); len(got) != 0 {
			t.Errorf("FindNDRs(%q) = %+v", none, got)
		}
	}
}
