package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxprobe/mxprobe/internal/lab/dnslab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// Every Status, from the real knot + unbound lab: unbound validates the
// signed zone (secure), answers the unsigned one without AD (insecure),
// fails the bogus one (SERVFAIL with EDE: bogus); knot answers with
// signatures but never validates (unvalidated, never secure); a name knot
// does not serve is refused (unknown, with the error); a name that does not
// exist is NXDOMAIN, secure; a large answer is read again over TCP.
func TestLookupAgainstDNSSECLab(t *testing.T) {
	if err := dnslab.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var big []string
	for i := range 40 {
		big = append(big, fmt.Sprintf("big.signed.test. IN TXT \"%s-%02d\"", strings.Repeat("x", 60), i))
	}
	l, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{
		{Origin: "signed.test", Records: append(big, "signed.test. IN MX 10 mx.signed.test.", "mx.signed.test. IN A 127.0.0.2")},
		{Origin: "unsigned.test", Signing: dnslab.Unsigned, Records: []string{"unsigned.test. IN MX 10 mx.unsigned.test."}},
		{Origin: "bogus.test", Signing: dnslab.Bogus, Records: []string{"bogus.test. IN MX 10 mx.bogus.test."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := &Resolver{Addr: l.Resolver}
	auth := &Resolver{Addr: l.Authoritative}
	for _, c := range []struct {
		r       *Resolver
		name    string
		qtype   uint16
		status  Status
		records int
		err     error
	}{
		{res, "signed.test", dns.TypeMX, Secure, 1, nil},
		{res, "MX.Signed.Test.", dns.TypeA, Secure, 1, nil},
		{res, "unsigned.test", dns.TypeMX, Insecure, 1, nil},
		{res, "bogus.test", dns.TypeMX, Bogus, 0, ErrServFail},
		{res, "nothing.signed.test", dns.TypeMX, Secure, 0, nil},
		{res, "signed.test", dns.TypeTLSA, Secure, 0, nil},
		{res, "big.signed.test", dns.TypeTXT, Secure, 40, nil},
		{auth, "signed.test", dns.TypeMX, Unvalidated, 1, nil},
		{auth, "elsewhere.example", dns.TypeMX, Unknown, 0, ErrQuery},
	} {
		a := c.r.Lookup(ctx, c.name, c.qtype)
		if a.Status != c.status || len(a.Records) != c.records || !errors.Is(a.Err, c.err) || c.err == nil && a.Err != nil {
			t.Errorf("%s %s via %s: status %s, %d records, err %v; want %s, %d, %v\n%s", c.name, dns.TypeToString[c.qtype], c.r.Addr, a.Status, len(a.Records), a.Err, c.status, c.records, c.err, l.Logs())
		}
	}
	// The large answer came over TCP: over UDP it is truncated.
	q := new(dns.Msg)
	q.SetQuestion("big.signed.test.", dns.TypeTXT)
	q.SetEdns0(1232, true)
	if r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, l.Resolver); err != nil || !r.Truncated {
		t.Errorf("big.signed.test TXT over UDP not truncated (%v): the TCP path is not exercised", err)
	}
	if a := res.Lookup(ctx, "nothing.signed.test", dns.TypeMX); !a.NXDomain() || !a.Empty() {
		t.Errorf("NXDOMAIN: %+v", a)
	}
	if a := res.Lookup(ctx, "bogus.test", dns.TypeMX); !strings.Contains(a.EDE, "Bogus") || !strings.Contains(a.Err.Error(), "DNSSEC validation failed") {
		t.Errorf("bogus answer: EDE %q, err %v", a.EDE, a.Err)
	}
	// What Validates concludes from each resolver's answers.
	if v, ok := Validates(res.Lookup(ctx, "unsigned.test", dns.TypeMX), res.Lookup(ctx, "signed.test", dns.TypeMX)); !v || !ok {
		t.Errorf("unbound: validates %v, known %v", v, ok)
	}
	if v, ok := Validates(auth.Lookup(ctx, "signed.test", dns.TypeMX)); v || !ok {
		t.Errorf("knot: validates %v, known %v", v, ok)
	}
	if _, ok := Validates(res.Lookup(ctx, "unsigned.test", dns.TypeMX)); ok {
		t.Error("unsigned answers alone said whether the resolver validates")
	}
	// A resolver that does not answer: unknown, with the error, in time.
	dead := &Resolver{Addr: "127.0.0.1:9", Timeout: time.Second}
	if a := dead.Lookup(ctx, "signed.test", dns.TypeMX); a.Status != Unknown || !errors.Is(a.Err, ErrQuery) {
		t.Errorf("dead resolver: %+v", a)
	}
}

func TestNew(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.53": "192.0.2.53:53", "192.0.2.53:5353": "192.0.2.53:5353", "[2001:db8::53]": "[2001:db8::53]:53", "2001:db8::53": "[2001:db8::53]:53"} {
		r, err := New(in)
		if err != nil || r.Addr != want {
			t.Errorf("New(%q) = %+v, %v; want %s", in, r, err, want)
		}
	}
	var r *Resolver
	if a := r.Lookup(context.Background(), "x.test", dns.TypeA); !errors.Is(a.Err, ErrQuery) || !errors.Is(a.Err, ErrNoResolver) {
		t.Errorf("nil resolver: %v", a.Err)
	}
}
