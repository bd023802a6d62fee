package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/mtasts"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// MailDomain checks one accepted domain the way senders see it: MX set,
// A/AAAA of each MX, DNSSEC status of every answer (from the resolver's AD
// bit), TLSA records against the chain each MX presents on a live STARTTLS
// probe (smtpprobe), the MTA-STS record and policy, and the TLS-RPT record
// (docs/outside-in.md).
type MailDomain struct {
	Domain   string
	Resolver *resolve.Resolver
	// MXPort and HTTPSPort replace 25 and 443 (labs only).
	MXPort, HTTPSPort int
	// Roots verify the MTA-STS policy host (nil: system roots).
	Roots *x509.CertPool
	Probe smtpprobe.Options
	Diag  diagnose.Options
	// Stores are the certificate stores this agent reads: a renewal of a
	// presented certificate found there with its key is checked against
	// the MX's TLSA records (DANE_TLSA_NEXT_MISMATCH; nil: not looked for).
	Stores []Store
}

func (c *MailDomain) Name() string   { return "mail_domain" }
func (c *MailDomain) Target() string { return "domain:" + c.Domain }

// maxMX bounds the MX hosts examined.
const maxMX = 10

func (c *MailDomain) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	if c.Resolver == nil {
		return nil, resolve.ErrNoResolver
	}
	d := strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	ev := &diagnose.MailDomainEvidence{Domain: d, Resolver: c.Resolver.Addr}
	ev.MX = c.Resolver.Lookup(ctx, d, dns.TypeMX)
	var mxs []*dns.MX
	for _, rr := range ev.MX.Records {
		if mx, ok := rr.(*dns.MX); ok && mx.Mx != "." {
			mxs = append(mxs, mx)
		}
	}
	slices.SortFunc(mxs, func(a, b *dns.MX) int {
		if a.Preference != b.Preference {
			return int(a.Preference) - int(b.Preference)
		}
		return strings.Compare(a.Mx, b.Mx)
	})
	if len(mxs) > maxMX {
		mxs = mxs[:maxMX]
	}
	now := c.Diag.Now
	if now.IsZero() {
		now = time.Now()
	}
	stores := &storeCerts{stores: c.Stores}
	for _, mx := range mxs {
		h := diagnose.MXEvidence{Host: strings.ToLower(strings.TrimSuffix(mx.Mx, ".")), Preference: mx.Preference}
		h.A = c.Resolver.Lookup(ctx, h.Host, dns.TypeA)
		h.AAAA = c.Resolver.Lookup(ctx, h.Host, dns.TypeAAAA)
		h.TLSA = c.Resolver.Lookup(ctx, "_25._tcp."+h.Host, dns.TypeTLSA)
		for _, rr := range h.TLSA.Records {
			if t, ok := rr.(*dns.TLSA); ok {
				if r, err := dane.FromRR(t); err == nil {
					h.Records = append(h.Records, r)
				} else {
					h.Records = append(h.Records, dane.Record{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType})
				}
			}
		}
		h.Chain, h.ProbeErr = c.probe(ctx, h)
		if len(h.Records) > 0 || h.TLSA.Err != nil {
			h.Next = stores.next(ctx, h.Chain, now)
		}
		ev.Hosts = append(ev.Hosts, h)
	}
	m := ReadMTASTS(ctx, c.Resolver, d, c.Roots, c.HTTPSPort)
	ev.MTASTSTXT, ev.MTASTSRecord, ev.MTASTSRecordErr, ev.Policy, ev.PolicyErr = m.TXT, m.Record, m.RecordErr, m.Policy, m.PolicyErr
	ev.TLSRPTTXT = c.Resolver.Lookup(ctx, "_smtp._tls."+d, dns.TypeTXT)
	_, ev.TLSRPTErr = tlsrpt.ParseRecords(txts(ev.TLSRPTTXT))
	if ev.TLSRPTTXT.Err != nil {
		ev.TLSRPTErr = ev.TLSRPTTXT.Err
	}
	return diagnose.MailDomain(ev, c.Diag), nil
}

// probe connects to the MX's first address and returns the chain it
// presents (nil with the reason when there is none).
func (c *MailDomain) probe(ctx context.Context, h diagnose.MXEvidence) ([]*x509.Certificate, error) {
	var addr string
	for _, rr := range append(append([]dns.RR{}, h.A.Records...), h.AAAA.Records...) {
		switch a := rr.(type) {
		case *dns.A:
			addr = a.A.String()
		case *dns.AAAA:
			addr = a.AAAA.String()
		}
		if addr != "" {
			break
		}
	}
	if addr == "" {
		return nil, errors.New("no address")
	}
	port := c.MXPort
	if port == 0 {
		port = 25
	}
	o := c.Probe
	o.ServerName, o.ExpectName = h.Host, h.Host
	r := smtpprobe.Probe(ctx, net.JoinHostPort(addr, strconv.Itoa(port)), o)
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		if r.Err == nil {
			return nil, errors.New("no certificate presented")
		}
		return nil, r.Err
	}
	return r.TLS.PeerCertificates, nil
}

// MTASTS is what ReadMTASTS found for one domain.
type MTASTS struct {
	TXT       resolve.Answer
	Record    mtasts.Record
	RecordErr error // mtasts.ErrNoRecord when the domain publishes none
	Policy    *mtasts.Fetched
	PolicyErr error
}

// ReadMTASTS reads a domain's _mta-sts record through r and, when it has
// one, fetches the policy (its host resolved through r too, verified
// against roots, nil: the system's; httpsPort 0 is 443): what the
// mail_domain check does each round and what agent preflight matches the
// new certificate against.
func ReadMTASTS(ctx context.Context, r *resolve.Resolver, domain string, roots *x509.CertPool, httpsPort int) MTASTS {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	var m MTASTS
	m.TXT = r.Lookup(ctx, "_mta-sts."+d, dns.TypeTXT)
	m.Record, m.RecordErr = mtasts.ParseRecords(txts(m.TXT))
	if m.TXT.Err != nil {
		m.RecordErr = m.TXT.Err
	}
	if m.RecordErr == nil {
		m.Policy, m.PolicyErr = mtasts.Fetch(ctx, d, mtasts.FetchOptions{Roots: roots, Port: httpsPort, LookupHost: lookupHost(r), Timeout: 20 * time.Second})
	}
	return m
}

// lookupHost resolves a host's addresses through r (A, then AAAA).
func lookupHost(r *resolve.Resolver) func(context.Context, string) ([]string, error) {
	return func(ctx context.Context, host string) ([]string, error) {
		var out []string
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			a := r.Lookup(ctx, host, t)
			if a.Err != nil {
				return nil, a.Err
			}
			for _, rr := range a.Records {
				switch x := rr.(type) {
				case *dns.A:
					out = append(out, x.A.String())
				case *dns.AAAA:
					out = append(out, x.AAAA.String())
				}
			}
		}
		return out, nil
	}
}

func txts(a resolve.Answer) []string {
	var out []string
	for _, rr := range a.Records {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}
