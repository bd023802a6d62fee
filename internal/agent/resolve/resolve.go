// Package resolve asks a recursive resolver for DNS records and says how far
// each answer can be trusted, from the resolver's own DNSSEC verdict: the AD
// bit of a validating resolver (RFC 4035 section 3.2.3, RFC 6840 section
// 5.7), a SERVFAIL that goes away with checking disabled (bogus), or
// signatures delivered without AD (the resolver did not validate, so the
// answer is never called secure). Queries and answers are github.com/miekg/dns
// messages; nothing here writes DNS wire format.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Status is the DNSSEC status of one answer.
type Status string

const (
	// Secure: the resolver validated the answer (AD set).
	Secure Status = "secure"
	// Insecure: the answer carries no signatures and the resolver did not
	// set AD: the zone is not signed (or not chained to a trust anchor).
	Insecure Status = "insecure"
	// Bogus: validation failed (SERVFAIL that a checking-disabled query
	// answers, or an Extended DNS Error naming a DNSSEC failure).
	Bogus Status = "bogus"
	// Unvalidated: the answer carries RRSIGs but no AD: the resolver does
	// not validate (or the zone is an island of security). Never secure.
	Unvalidated Status = "unvalidated"
	// Unknown: no usable answer (timeout, SERVFAIL that is not DNSSEC).
	Unknown Status = "unknown"
)

// Sentinel errors; Answer.Err wraps them.
var (
	ErrNoResolver = errors.New("resolve: no resolver configured (set dns_resolver)")
	ErrQuery      = errors.New("resolve: query failed")
	ErrServFail   = errors.New("resolve: SERVFAIL")
)

// Answer is the resolver's answer to one question.
type Answer struct {
	Name   string
	Type   uint16
	Rcode  int
	Status Status
	// Records of the asked type (CNAMEs followed by the resolver).
	Records []dns.RR
	// Signed: RRSIGs came with the answer (DO was set).
	Signed bool
	// EDE is the Extended DNS Error (RFC 8914) the resolver attached, as
	// "code: text", if any.
	EDE string
	// Err is set when the resolver gave no usable answer.
	Err error
}

// NXDomain reports a name that does not exist.
func (a *Answer) NXDomain() bool { return a.Err == nil && a.Rcode == dns.RcodeNameError }

// Empty reports an answer without records of the asked type (NODATA or
// NXDOMAIN).
func (a *Answer) Empty() bool { return a.Err == nil && len(a.Records) == 0 }

// Resolver queries one recursive resolver.
type Resolver struct {
	// Addr is host:port (a bare host gets :53).
	Addr string
	// Timeout per query (default 5 s); ctx deadlines win.
	Timeout time.Duration
}

// New returns a resolver for addr; "" reads the system's first nameserver
// from /etc/resolv.conf (not on Windows: there dns_resolver must be set).
func New(addr string) (*Resolver, error) {
	if addr == "" {
		if runtime.GOOS == "windows" {
			return nil, ErrNoResolver
		}
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			return nil, fmt.Errorf("%w: /etc/resolv.conf: %v", ErrNoResolver, err)
		}
		addr = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "53")
	}
	return &Resolver{Addr: addr}, nil
}

// dnssecEDE are RFC 8914 codes that name a DNSSEC validation failure.
var dnssecEDE = map[uint16]bool{
	dns.ExtendedErrorCodeDNSBogus: true, dns.ExtendedErrorCodeSignatureExpired: true, dns.ExtendedErrorCodeSignatureNotYetValid: true,
	dns.ExtendedErrorCodeDNSKEYMissing: true, dns.ExtendedErrorCodeRRSIGsMissing: true, dns.ExtendedErrorCodeNoZoneKeyBitSet: true,
	dns.ExtendedErrorCodeNSECMissing: true, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm: true, dns.ExtendedErrorCodeUnsupportedDSDigestType: true,
}

// Lookup asks for name/qtype with DO set and classifies the answer.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) Answer {
	name = dns.Fqdn(strings.ToLower(strings.TrimSpace(name)))
	a := Answer{Name: name, Type: qtype, Status: Unknown}
	if r == nil || r.Addr == "" {
		a.Err = fmt.Errorf("%w: %s %s: %w", ErrQuery, name, dns.TypeToString[qtype], ErrNoResolver)
		return a
	}
	resp, err := r.exchange(ctx, name, qtype, false)
	if err != nil {
		a.Err = fmt.Errorf("%w: %s %s via %s: %v", ErrQuery, name, dns.TypeToString[qtype], r.Addr, err)
		return a
	}
	a.Rcode = resp.Rcode
	a.EDE, _ = ede(resp)
	if resp.Rcode == dns.RcodeServerFailure {
		bogus := false
		if _, code := ede(resp); code >= 0 && dnssecEDE[uint16(code)] {
			bogus = true
		} else if cd, err := r.exchange(ctx, name, qtype, true); err == nil && (cd.Rcode == dns.RcodeSuccess || cd.Rcode == dns.RcodeNameError) {
			// Answered with checking disabled: the data is there, its
			// validation failed.
			bogus = true
		}
		if bogus {
			a.Status = Bogus
			a.Err = fmt.Errorf("%w: %s %s via %s: DNSSEC validation failed%s", ErrServFail, name, dns.TypeToString[qtype], r.Addr, suffix(a.EDE))
		} else {
			a.Err = fmt.Errorf("%w: %s %s via %s%s", ErrServFail, name, dns.TypeToString[qtype], r.Addr, suffix(a.EDE))
		}
		return a
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		a.Err = fmt.Errorf("%w: %s %s via %s: %s", ErrQuery, name, dns.TypeToString[qtype], r.Addr, dns.RcodeToString[resp.Rcode])
		return a
	}
	for _, rr := range append(append([]dns.RR{}, resp.Answer...), resp.Ns...) {
		if _, ok := rr.(*dns.RRSIG); ok {
			a.Signed = true
		}
	}
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype {
			a.Records = append(a.Records, rr)
		}
	}
	switch {
	case resp.AuthenticatedData:
		a.Status = Secure
	case a.Signed:
		a.Status = Unvalidated
	default:
		a.Status = Insecure
	}
	return a
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func ede(m *dns.Msg) (string, int) {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				s := fmt.Sprintf("EDE %d %s", e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode])
				if e.ExtraText != "" {
					s += ": " + e.ExtraText
				}
				return s, int(e.InfoCode)
			}
		}
	}
	return "", -1
}

func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16, cd bool) (*dns.Msg, error) {
	if r == nil || r.Addr == "" {
		return nil, ErrNoResolver
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.CheckingDisabled = cd
	m.SetEdns0(1232, true)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	resp, _, err := c.ExchangeContext(ctx, m, r.Addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, r.Addr)
	}
	if err != nil {
		return nil, err
	}
	if resp.Id != m.Id {
		return nil, errors.New("answer id does not match the query")
	}
	return resp, nil
}

// Validates reports whether the resolver validates DNSSEC, from the answers
// it gave: true when one was secure, false when one carried signatures
// without AD, and ok=false when the answers cannot tell (all unsigned).
func Validates(answers ...Answer) (validates, ok bool) {
	for _, a := range answers {
		if a.Status == Secure || a.Status == Bogus {
			return true, true
		}
	}
	for _, a := range answers {
		if a.Status == Unvalidated {
			return false, true
		}
	}
	return false, false
}
