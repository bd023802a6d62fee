package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestHorizonFixKeptOnlyWhileItsPartsAreTheSame: the fleet-horizon fix a
// bucket keeps (horizonFix) is the text written from the parts of each
// call, as the whole-text formula writes it, through a history of calls
// in which one part at a time changes: the holder list replaced by a list
// of the same length with one host renamed, by an equal copy, shortened,
// emptied; the certificate, the expiry and the root's remediation
// changed with the list kept. A memo keyed by less than every part (the
// list by its length, or without one of the strings) returns a stale
// text in one of these calls.
func TestHorizonFixKeptOnlyWhileItsPartsAreTheSame(t *testing.T) {
	want := func(subject, notAfter string, hosts []string, rootFix string) string {
		return fmt.Sprintf("Renew %s before %s and install it with its key on every holder (%s); then Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP on each and update TlsCertificateName. %s",
			subject, notAfter, strings.Join(hosts, ", "), rootFix)
	}
	hostList := func(n int, renamed int) []string {
		var hs []string
		for i := range n {
			h := fmt.Sprintf("ex%04d.contoso.com", i)
			if i == renamed {
				h = fmt.Sprintf("mx%04d.contoso.com", i)
			}
			hs = append(hs, h)
		}
		return hs
	}
	a := hostList(50, -1)
	b := hostList(50, 17) // the same length, one host renamed
	c := slices.Clone(b)  // an equal copy
	d := b[:10:10]        // shortened, the same first element
	type call struct {
		subject, notAfter string
		hosts             []string
		rootFix           string
	}
	calls := []call{
		{"svc (issued by CA)", "2027-01-01", a, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", a, "Renew it."}, // kept
		{"svc (issued by CA)", "2027-01-01", b, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", c, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", d, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", nil, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", []string{}, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", c, "Renew it."},
		{"svc (issued by CA)", "2027-01-01", c, "Renew it now."},
		{"svc (issued by CA)", "2027-02-01", c, "Renew it now."},
		{"web (issued by CA)", "2027-02-01", c, "Renew it now."},
		{"web (issued by CA)", "2027-02-01", c, ""},
		{"web (issued by CA)", "", c, ""},
		{"web (issued by CA)", "", c, ""}, // kept
	}
	for _, shown := range []*shownMembers{nil, {}} {
		v := &view{shown: shown}
		for i, cl := range calls {
			got := v.horizonFix(cl.subject, cl.notAfter, cl.hosts, cl.rootFix)
			if w := want(cl.subject, cl.notAfter, cl.hosts, cl.rootFix); got != w {
				t.Fatalf("kept=%v call %d: fix\n%q\nwant\n%q", shown != nil, i, got, w)
			}
		}
	}
	// The memo is the bucket's: a call it answers returns the text
	// written before, not a new copy.
	v := &view{shown: &shownMembers{}}
	first := v.horizonFix("svc", "2027-01-01", a, "Renew it.")
	if again := v.horizonFix("svc", "2027-01-01", a, "Renew it."); again != first || unsafe.StringData(again) != unsafe.StringData(first) {
		t.Fatalf("the same parts wrote the fix again")
	}
}
