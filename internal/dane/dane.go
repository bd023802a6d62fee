package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Certificate usages (RFC 6698 section 2.1.1, RFC 7218 acronyms).
const (
	UsagePKIXTA uint8 = 0
	UsagePKIXEE uint8 = 1
	UsageDANETA uint8 = 2
	UsageDANEEE uint8 = 3
)

// Selectors.
const (
	SelectorCert uint8 = 0
	SelectorSPKI uint8 = 1
)

// Matching types.
const (
	MatchingFull   uint8 = 0
	MatchingSHA256 uint8 = 1
	MatchingSHA512 uint8 = 2
)

// Sentinel errors; returned errors wrap them.
var (
	// ErrUnusable: a record SMTP clients ignore (usage 0/1, unknown
	// selector or matching type, malformed data).
	ErrUnusable = errors.New("dane: TLSA record unusable for SMTP")
	// ErrNoChain: there is no certificate to match.
	ErrNoChain = errors.New("dane: no certificate presented")
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, MatchingType uint8
	// Data is the certificate association data (decoded from hex).
	Data []byte
}

// FromRR converts a parsed TLSA resource record.
func FromRR(rr *dns.TLSA) (Record, error) {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("%w: association data is not hex: %v", ErrUnusable, err)
	}
	return Record{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}, nil
}

// String renders the record in zone-file presentation ("3 1 1 ABCD...").
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, strings.ToUpper(hex.EncodeToString(r.Data)))
}

// Usable reports why a record cannot be used for SMTP (nil when it can).
func (r Record) Usable() error {
	switch r.Usage {
	case UsageDANETA, UsageDANEEE:
	case UsagePKIXTA, UsagePKIXEE:
		return fmt.Errorf("%w: usage %d (PKIX-%s) is not for SMTP (RFC 7672 section 3.1.3)", ErrUnusable, r.Usage, map[uint8]string{0: "TA", 1: "EE"}[r.Usage])
	default:
		return fmt.Errorf("%w: unknown usage %d", ErrUnusable, r.Usage)
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return fmt.Errorf("%w: unknown selector %d", ErrUnusable, r.Selector)
	}
	want := map[uint8]int{MatchingSHA256: sha256.Size, MatchingSHA512: sha512.Size}
	switch r.MatchingType {
	case MatchingFull:
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: empty association data", ErrUnusable)
		}
	case MatchingSHA256, MatchingSHA512:
		if len(r.Data) != want[r.MatchingType] {
			return fmt.Errorf("%w: matching type %d wants %d bytes of data, record has %d", ErrUnusable, r.MatchingType, want[r.MatchingType], len(r.Data))
		}
	default:
		return fmt.Errorf("%w: unknown matching type %d", ErrUnusable, r.MatchingType)
	}
	return nil
}

// Association computes the association data of cert for a selector and
// matching type (what a TLSA record for cert must hold).
func Association(cert *x509.Certificate, selector, matching uint8) ([]byte, error) {
	var in []byte
	switch selector {
	case SelectorCert:
		in = cert.Raw
	case SelectorSPKI:
		in = cert.RawSubjectPublicKeyInfo
	default:
		return nil, fmt.Errorf("%w: unknown selector %d", ErrUnusable, selector)
	}
	switch matching {
	case MatchingFull:
		return bytes.Clone(in), nil
	case MatchingSHA256:
		s := sha256.Sum256(in)
		return s[:], nil
	case MatchingSHA512:
		s := sha512.Sum512(in)
		return s[:], nil
	}
	return nil, fmt.Errorf("%w: unknown matching type %d", ErrUnusable, matching)
}

// RecordFor returns the TLSA record of the given usage, selector and
// matching type for cert (e.g. 3 1 1: DANE-EE, SPKI, SHA2-256).
func RecordFor(cert *x509.Certificate, usage, selector, matching uint8) (Record, error) {
	d, err := Association(cert, selector, matching)
	if err != nil {
		return Record{}, err
	}
	return Record{Usage: usage, Selector: selector, MatchingType: matching, Data: d}, nil
}

func (r Record) matches(cert *x509.Certificate) bool {
	d, err := Association(cert, r.Selector, r.MatchingType)
	return err == nil && bytes.Equal(d, r.Data)
}

// Unusable is a record SMTP clients ignore, with the reason.
type Unusable struct {
	Record Record
	Reason error
}

// Matched is a usable record that authenticates the chain.
type Matched struct {
	Record Record
	// Depth is the index in the chain of the certificate it matched (0:
	// the leaf).
	Depth int
}

// Failed is a usable record that does not authenticate the chain, with why.
type Failed struct {
	Record Record
	Reason string
}

// Result is a TLSA set checked against one chain.
type Result struct {
	Usable   []Record
	Unusable []Unusable
	Matched  []Matched
	Failed   []Failed
}

// Authenticated reports whether some usable record authenticates the chain.
func (r *Result) Authenticated() bool { return len(r.Matched) > 0 }

// NoUsable reports a set with records but none usable: an SMTP client then
// does unauthenticated TLS (RFC 7672 section 2.2).
func (r *Result) NoUsable() bool { return len(r.Usable) == 0 && len(r.Unusable) > 0 }

// Options of a match.
type Options struct {
	// Names are the reference identifiers a DANE-TA chain's leaf must carry
	// (RFC 7672 section 3.2.2: the MX host name, and the TLSA base domain
	// when CNAMEs were followed). Empty skips the name check.
	Names []string
	// Now is the time DANE-TA chains are validated at (default time.Now).
	Now time.Time
}

// MatchChain checks a TLSA set against a chain as presented, leaf first.
func MatchChain(records []Record, chain []*x509.Certificate, o Options) Result {
	var res Result
	for _, r := range records {
		if err := r.Usable(); err != nil {
			res.Unusable = append(res.Unusable, Unusable{Record: r, Reason: err})
			continue
		}
		res.Usable = append(res.Usable, r)
		if len(chain) == 0 {
			res.Failed = append(res.Failed, Failed{Record: r, Reason: ErrNoChain.Error()})
			continue
		}
		switch r.Usage {
		case UsageDANEEE:
			if r.matches(chain[0]) {
				res.Matched = append(res.Matched, Matched{Record: r, Depth: 0})
			} else {
				res.Failed = append(res.Failed, Failed{Record: r, Reason: "does not match the leaf certificate's " + selectorName(r.Selector)})
			}
		case UsageDANETA:
			depth, reason := matchTA(r, chain, o)
			if depth > 0 {
				res.Matched = append(res.Matched, Matched{Record: r, Depth: depth})
			} else {
				res.Failed = append(res.Failed, Failed{Record: r, Reason: reason})
			}
		}
	}
	return res
}

// MatchCertificate answers "does this TLSA set match certificate cert", for
// a certificate not yet in service: cert is the leaf, intermediates what the
// server will send after it.
func MatchCertificate(records []Record, cert *x509.Certificate, intermediates []*x509.Certificate, o Options) Result {
	return MatchChain(records, append([]*x509.Certificate{cert}, intermediates...), o)
}

// matchTA: the trust anchor is a certificate of the chain above the leaf
// (a bare public key as anchor is not supported: the server must send the
// anchor's certificate, RFC 7671 section 5.2.2); the leaf must verify up to
// it and carry one of the names. Returns the anchor's depth, or 0 and why.
func matchTA(r Record, chain []*x509.Certificate, o Options) (int, string) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	reason := "matches no certificate the server sent above the leaf (the trust anchor's certificate must be in the chain)"
	for i := 1; i < len(chain); i++ {
		if !r.matches(chain[i]) {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(chain[i])
		inter := x509.NewCertPool()
		for _, c := range chain[1:i] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			reason = fmt.Sprintf("matches chain certificate %d (%s) but the leaf does not verify up to it: %v", i, chain[i].Subject.String(), err)
			continue
		}
		if len(o.Names) > 0 {
			ok := false
			for _, n := range o.Names {
				if chain[0].VerifyHostname(strings.TrimSuffix(n, ".")) == nil {
					ok = true
					break
				}
			}
			if !ok {
				reason = fmt.Sprintf("matches chain certificate %d but the leaf carries none of %s", i, strings.Join(o.Names, ", "))
				continue
			}
		}
		return i, ""
	}
	return 0, reason
}

func selectorName(s uint8) string {
	if s == SelectorSPKI {
		return "public key"
	}
	return "certificate"
}
