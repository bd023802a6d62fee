// Package mtasts reads a domain's MTA-STS policy (RFC 8461): the
// `_mta-sts` TXT record, the policy file fetched over HTTPS from
// `mta-sts.<domain>/.well-known/mta-sts.txt` with a WebPKI-valid
// certificate, and the `mx:` pattern matching senders apply. The HTTPS fetch
// is bounded (size, time, no redirects, RFC 8461 section 3.3) because the
// policy host is outside our control.
package mtasts

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/tagvalue"
)

// Sentinel errors; returned errors wrap them.
var (
	ErrRecordInvalid = errors.New("mtasts: invalid _mta-sts record")
	ErrNoRecord      = errors.New("mtasts: no _mta-sts record")
	ErrPolicyInvalid = errors.New("mtasts: invalid policy")
	// ErrWebPKI: the policy host's certificate does not verify.
	ErrWebPKI = errors.New("mtasts: policy host certificate not valid")
	// ErrFetch: the policy could not be fetched (connect, HTTP status,
	// redirect, size).
	ErrFetch = errors.New("mtasts: policy fetch failed")
)

// Record is a parsed `_mta-sts` TXT record.
type Record struct {
	ID  string
	Raw string
}

// ParseRecords picks the STSv1 record out of a name's TXT strings (each
// TXT record's strings already joined). Exactly one STSv1 record must exist
// (RFC 8461 section 3.1).
func ParseRecords(txts []string) (Record, error) {
	return tagvalue.One(txts, "STSv1", parseRecord, ErrNoRecord, ErrRecordInvalid)
}

func parseRecord(t string) (Record, error) {
	r := Record{Raw: t}
	fields, err := tagvalue.Parse(t, "STSv1")
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrRecordInvalid, err)
	}
	for _, f := range fields {
		if f.Key != "id" {
			continue
		}
		v := f.Value
		if v == "" || len(v) > 32 || strings.IndexFunc(v, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') }) >= 0 {
			return r, fmt.Errorf("%w: id %q must be 1-32 letters or digits", ErrRecordInvalid, v)
		}
		r.ID = v
	}
	if r.ID == "" {
		return r, fmt.Errorf("%w: no id", ErrRecordInvalid)
	}
	return r, nil
}

// Mode is a policy's mode.
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxAgeLimit is the largest max_age RFC 8461 allows (about a year).
const MaxAgeLimit = 31557600

// Policy is a parsed policy file.
type Policy struct {
	Mode   Mode
	MaxAge int // seconds
	MX     []string
	Raw    string
}

// ParsePolicy parses a policy body (RFC 8461 section 3.2).
func ParsePolicy(body string) (*Policy, error) {
	p := &Policy{Raw: body, MaxAge: -1}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 4096), MaxPolicyBytes)
	version := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return p, fmt.Errorf("%w: line %q is not key: value", ErrPolicyInvalid, clip(line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.Mode = Mode(v)
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || len(v) > 10 {
				return p, fmt.Errorf("%w: max_age %q is not a number of seconds", ErrPolicyInvalid, clip(v))
			}
			p.MaxAge = n
		case "mx":
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	if err := sc.Err(); err != nil {
		return p, fmt.Errorf("%w: %v", ErrPolicyInvalid, err)
	}
	switch {
	case version != "STSv1":
		return p, fmt.Errorf("%w: version %q, want STSv1", ErrPolicyInvalid, clip(version))
	case p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone:
		return p, fmt.Errorf("%w: mode %q, want enforce, testing or none", ErrPolicyInvalid, clip(string(p.Mode)))
	case p.MaxAge < 0:
		return p, fmt.Errorf("%w: no max_age", ErrPolicyInvalid)
	case p.MaxAge > MaxAgeLimit:
		return p, fmt.Errorf("%w: max_age %d above %d", ErrPolicyInvalid, p.MaxAge, MaxAgeLimit)
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return p, fmt.Errorf("%w: no mx patterns in mode %s", ErrPolicyInvalid, p.Mode)
	}
	return p, nil
}

// Covers reports whether host matches one of the policy's mx patterns
// (RFC 8461 section 4.1: "*.example.com" matches exactly one extra label).
func (p *Policy) Covers(host string) bool { return Match(p.MX, host) != "" }

// Match returns the first pattern host matches ("" when none).
func Match(patterns []string, host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range patterns {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, suffix, ok := strings.Cut(host, "."); ok && label != "" && suffix == rest {
				return pat
			}
			continue
		}
		if pat == host {
			return pat
		}
	}
	return ""
}

// MaxPolicyBytes bounds a policy body (RFC 8461 section 3.3 suggests 64 KiB).
const MaxPolicyBytes = 64 << 10

// FetchOptions configures Fetch.
type FetchOptions struct {
	// Roots verifies the policy host (nil: system roots).
	Roots *x509.CertPool
	// Port to connect to (default 443; labs use another).
	Port int
	// LookupHost resolves the policy host (default: the system resolver).
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Timeout bounds the whole fetch (default 20 s).
	Timeout time.Duration
	// Now is the time certificates are verified at (default time.Now).
	Now func() time.Time
}

// Fetched is a fetched policy with what the fetch saw.
type Fetched struct {
	URL    string
	Policy *Policy
	// Chain is the policy host's certificate chain, leaf first, kept even
	// when it did not verify.
	Chain []*x509.Certificate
}

// Fetch gets and parses the policy of domain. A certificate that does not
// verify is ErrWebPKI (the chain is still returned).
func Fetch(ctx context.Context, domain string, o FetchOptions) (*Fetched, error) {
	if o.Port == 0 {
		o.Port = 443
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	host := "mta-sts." + strings.TrimSuffix(strings.ToLower(domain), ".")
	f := &Fetched{URL: "https://" + host + "/.well-known/mta-sts.txt"}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var verifyErr error
	dialer := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			addrs := []string{host}
			if o.LookupHost != nil {
				var err error
				if addrs, err = o.LookupHost(ctx, host); err != nil {
					return nil, err
				}
				if len(addrs) == 0 {
					return nil, fmt.Errorf("%s has no address", host)
				}
			}
			var last error
			for _, a := range addrs {
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(a, strconv.Itoa(o.Port)))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
		TLSClientConfig: &tls.Config{
			ServerName: host,
			MinVersion: tls.VersionTLS12,
			// Verified below so the chain is kept when it fails.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				f.Chain = cs.PeerCertificates
				if len(cs.PeerCertificates) == 0 {
					verifyErr = errors.New("no certificate")
					return verifyErr
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: o.Roots, Intermediates: inter, CurrentTime: o.Now()})
				verifyErr = err
				return err
			},
		},
		ForceAttemptHTTP2:      false,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed (RFC 8461 section 3.3)")
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		return f, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if verifyErr != nil {
			return f, fmt.Errorf("%w: %s: %v", ErrWebPKI, host, verifyErr)
		}
		return f, fmt.Errorf("%w: %s: %v", ErrFetch, f.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return f, fmt.Errorf("%w: %s: HTTP %s", ErrFetch, f.URL, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return f, fmt.Errorf("%w: %s: Content-Type %q, want text/plain", ErrPolicyInvalid, f.URL, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicyBytes+1))
	if err != nil {
		return f, fmt.Errorf("%w: %s: %v", ErrFetch, f.URL, err)
	}
	if len(body) > MaxPolicyBytes {
		return f, fmt.Errorf("%w: %s: body larger than %d bytes", ErrPolicyInvalid, f.URL, MaxPolicyBytes)
	}
	p, err := ParsePolicy(string(body))
	f.Policy = p
	return f, err
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
