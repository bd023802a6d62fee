package dane

import (
	"bytes"
	"crypto/x509"
	"slices"
	"strings"
	"time"
)

// Rollover: the rule for "will the published TLSA set still work after the
// switch to the next certificate", owned here and used by both the renewal
// pre-flight (agent preflight --new-cert) and the regular mail_domain check
// (a renewed certificate already in the store).

// Successor reports whether c is the next certificate of cur, the one in
// service: the same subject and the same DNS names (case-insensitive, any
// order), issued later (NotBefore after cur's), a different certificate, not
// a CA certificate, and not expired at now. Whether its key is present is
// the store's to say.
func Successor(cur, c *x509.Certificate, now time.Time) bool {
	if cur == nil || c == nil || c.IsCA || bytes.Equal(cur.Raw, c.Raw) {
		return false
	}
	if !bytes.Equal(cur.RawSubject, c.RawSubject) || !c.NotBefore.After(cur.NotBefore) || !now.Before(c.NotAfter) {
		return false
	}
	return slices.Equal(names(cur), names(c))
}

func names(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.DNSNames))
	for _, n := range c.DNSNames {
		out = append(out, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MatchNext reports whether the published TLSA set will authenticate next
// once the server presents it (with intermediates after it), and by which
// record: MatchCertificate, with DANE-TA chains validated at o.Now or, for
// a certificate not yet valid then, at its NotBefore (when it can enter
// service). o.Names should hold the MX host name.
func MatchNext(published []Record, next *x509.Certificate, intermediates []*x509.Certificate, o Options) (Record, bool) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Now.Before(next.NotBefore) {
		o.Now = next.NotBefore.Add(time.Second)
	}
	res := MatchCertificate(published, next, intermediates, o)
	if !res.Authenticated() {
		return Record{}, false
	}
	return res.Matched[0].Record, true
}
