package checks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// A renewal waiting in the store whose key no TLSA record of the MX pins,
// against the DNSSEC lab: mx1.signed.test presents the certificate its
// signed 3 1 1 record matches; the store holds its renewal (same names,
// issued later, new key). The regular run warns before the switch breaks
// DANE, naming the record to add and keeping the current one; a renewal
// without its key, a certificate for other names, or the current
// certificate alone raise nothing; through a resolver that does not
// validate it says the rollover was not checked.
func TestMailDomainWarnsTLSAWillNotMatchRenewal(t *testing.T) {
	l := startOutsideLab(t)
	cur := l.mx1.Cert
	renewal := mustIssue(t, l.ca, lab.IssueOptions{CommonName: cur.Subject.CommonName, DNSNames: cur.DNSNames, NotBefore: cur.NotBefore.Add(time.Minute)})
	otherNames := mustIssue(t, l.ca, lab.IssueOptions{CommonName: cur.Subject.CommonName, DNSNames: []string{"mx1.signed.test"}, NotBefore: cur.NotBefore.Add(time.Minute)})
	want, err := dane.RecordFor(renewal.Cert, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchingSHA256)
	if err != nil {
		t.Fatal(err)
	}
	current, _ := dane.RecordFor(cur, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchingSHA256)
	run := func(resolver string, store map[string]*lab.Issued, keys bool) map[string]*mxv1.Finding {
		t.Helper()
		dir := filepath.Join(tempdir.New(t), "store")
		for name, is := range store {
			writeIssued(t, dir, name, is, keys)
		}
		uri := "pemdir:" + dir
		c := l.check("ok.signed.test", resolver)
		c.Stores = []Store{{URI: uri, Store: mustOpen(t, uri)}}
		fs, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return codesOf(fs)
	}
	got := run(l.dns.Resolver, map[string]*lab.Issued{"current": l.mx1, "renewal": renewal}, true)
	f := got["DANE_TLSA_NEXT_MISMATCH"]
	if f == nil {
		t.Fatalf("no DANE_TLSA_NEXT_MISMATCH: %v", got)
	}
	if got["DANE_TLSA_MISMATCH"] != nil {
		t.Fatalf("the current certificate matches, yet: %v", got["DANE_TLSA_MISMATCH"])
	}
	fix := f.GetRemediation()
	if f.GetSeverity() != mxv1.Severity_SEVERITY_WARNING || f.GetSubject() != "mx1.signed.test:25" || f.GetEvidence()["expected_tlsa"] != want.String() ||
		f.GetEvidence()["next_thumbprint"] != renewal.Thumbprint() || f.GetEvidence()["matching_tlsa"] != current.String() ||
		!strings.Contains(fix, "_25._tcp.mx1.signed.test. IN TLSA "+want.String()) || !strings.Contains(fix, "Keep the current record") ||
		strings.Contains(strings.ToLower(fix), "remove") || strings.Contains(strings.ToLower(fix), "delete") {
		t.Fatalf("finding: %v", f)
	}
	for name, store := range map[string]map[string]*lab.Issued{
		"current only": {"current": l.mx1},
		"other names":  {"current": l.mx1, "other": otherNames},
	} {
		if got := run(l.dns.Resolver, store, true); got["DANE_TLSA_NEXT_MISMATCH"] != nil || got["DANE_NEXT_CERT_UNCHECKED"] != nil {
			t.Errorf("%s: %v", name, got)
		}
	}
	if got := run(l.dns.Resolver, map[string]*lab.Issued{"renewal": renewal}, false); got["DANE_TLSA_NEXT_MISMATCH"] != nil {
		t.Errorf("a renewal without its key: %v", got["DANE_TLSA_NEXT_MISMATCH"])
	}
	// knot answers with signatures but no AD: nothing is known.
	got = run(l.dns.Authoritative, map[string]*lab.Issued{"renewal": renewal}, true)
	if u := got["DANE_NEXT_CERT_UNCHECKED"]; got["DANE_TLSA_NEXT_MISMATCH"] != nil || u == nil || u.GetSeverity() != mxv1.Severity_SEVERITY_INFO ||
		!strings.Contains(u.GetSummary(), "does not validate DNSSEC") || u.GetEvidence()["expected_tlsa"] != want.String() {
		t.Fatalf("non-validating resolver: %v", got)
	}
}
