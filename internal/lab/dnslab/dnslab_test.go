package dnslab

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestLabSignsValidatesAndBreaks(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Start(ctx, t.TempDir(), []Zone{
		{Origin: "signed.test", Records: []string{"mx.signed.test. IN A 127.0.0.2", "signed.test. IN MX 10 mx.signed.test."}},
		{Origin: "unsigned.test", Signing: Unsigned, Records: []string{"unsigned.test. IN MX 10 mx.unsigned.test."}},
		{Origin: "bogus.test", Signing: Bogus, Records: []string{"bogus.test. IN MX 10 mx.bogus.test."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		name  string
		rcode int
		ad    bool
	}{{"signed.test.", dns.RcodeSuccess, true}, {"unsigned.test.", dns.RcodeSuccess, false}, {"bogus.test.", dns.RcodeServerFailure, false}} {
		r, err := exchange(l.Resolver, c.name, dns.TypeMX, true)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != c.rcode || r.AuthenticatedData != c.ad {
			t.Errorf("%s MX via unbound: rcode %s ad %v; want %s ad %v\n%s", c.name, dns.RcodeToString[r.Rcode], r.AuthenticatedData, dns.RcodeToString[c.rcode], c.ad, l.Logs())
		}
	}
	// knot itself answers with signatures but never sets AD.
	r, err := exchange(l.Authoritative, "signed.test.", dns.TypeMX, true)
	if err != nil || r.AuthenticatedData || len(r.Answer) < 2 {
		t.Fatalf("knot: %v %v", r, err)
	}
}

// A port another process binds after the lab picked it (other test
// binaries pick from the same range) makes knotd or unbound exit with
// "address already in use"; the lab starts again on other ports.
func TestLabStartsAgainWhenAPortIsTaken(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	for _, taken := range []string{"authoritative", "resolver"} {
		t.Run(taken, func(t *testing.T) {
			held := holdPort(t)
			picks := 0
			pick := func() (string, error) {
				picks++
				if (taken == "authoritative" && picks == 1) || (taken == "resolver" && picks == 2) {
					return held, nil
				}
				return ports.Loopback()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			l, err := startWith(ctx, t.TempDir(), []Zone{{Origin: "signed.test", Records: []string{"signed.test. IN MX 10 mx.signed.test."}}}, pick)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Authoritative == held || l.Resolver == held || picks < 4 {
				t.Fatalf("lab on %s and %s after %d picks; %s was taken", l.Authoritative, l.Resolver, picks, held)
			}
			r, err := exchange(l.Resolver, "signed.test.", dns.TypeMX, true)
			if err != nil || r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
				t.Fatalf("signed.test MX via the restarted lab: %v %v\n%s", r, err, l.Logs())
			}
		})
	}
}

// holdPort binds a loopback port over TCP and UDP until the test ends.
func holdPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr, err := ports.Loopback()
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			ln.Close()
			continue
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		return addr
	}
	t.Fatal("no port to hold")
	return ""
}
