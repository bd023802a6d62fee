// Package revocation checks whether the certificates of a presented chain
// are revoked: the OCSP response stapled to the handshake first, then the
// OCSP responders of the certificate's Authority Information Access
// extension, then its CRL distribution points (golang.org/x/crypto/ocsp,
// crypto/x509). Every network fetch has a short deadline and a size limit,
// and answers are cached until their nextUpdate (bounded), failures briefly,
// so an agent probing every few minutes does not hammer responders, and an
// Edge server in a DMZ that cannot reach them is told so once per cache
// period instead of waiting on every probe.
//
// A Checker is safe for concurrent use; its zero value is not: use New.
package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// Status is what a check established about one certificate.
type Status string

// Statuses.
const (
	// Good: a valid OCSP response or CRL signed by the issuer lists the
	// certificate as not revoked.
	Good Status = "good"
	// Revoked: a valid OCSP response or CRL lists it as revoked.
	Revoked Status = "revoked"
	// Unavailable: the certificate names revocation sources but none gave a
	// usable answer (unreachable, timeout, HTTP error, bad or stale
	// response, OCSP "unknown"); Attempts say why for each.
	Unavailable Status = "unavailable"
	// NotChecked: the certificate names no OCSP responder and no CRL, or its
	// issuer is not in the chain (nothing to verify an answer against).
	NotChecked Status = "not-checked"
)

// Methods of a check.
const (
	MethodStapled = "ocsp-stapled"
	MethodOCSP    = "ocsp"
	MethodCRL     = "crl"
)

// Attempt is one source asked, and why it gave no answer ("" when it did).
type Attempt struct {
	Method string `json:"method"`
	URL    string `json:"url,omitempty"`
	Err    string `json:"err,omitempty"`
	Cached bool   `json:"cached,omitempty"`
}

// Result is the revocation status of one certificate of the chain.
type Result struct {
	Cert       *x509.Certificate `json:"-"`
	Thumbprint string            `json:"thumbprint"`
	// Depth is the position in the chain (0: the leaf).
	Depth  int    `json:"depth"`
	Status Status `json:"status"`
	// Method and URL say which source answered (Good / Revoked).
	Method string `json:"method,omitempty"`
	URL    string `json:"url,omitempty"`
	// RevokedAt and Reason (RFC 5280 CRLReason) when Revoked.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	Reason    int       `json:"reason,omitempty"`
	// NextUpdate of the answer used.
	NextUpdate time.Time `json:"nextUpdate,omitzero"`
	Attempts   []Attempt `json:"attempts,omitempty"`
	// Note explains NotChecked.
	Note string `json:"note,omitempty"`
}

// Sentinel errors in Attempt.Err's causes.
var (
	ErrHTTPStatus = errors.New("revocation: unexpected HTTP status")
	ErrTooLarge   = errors.New("revocation: response too large")
	ErrStale      = errors.New("revocation: response is past its nextUpdate")
	ErrOCSPStatus = errors.New("revocation: OCSP responder did not answer successfully")
	ErrUnknown    = errors.New("revocation: OCSP responder does not know the certificate")
	ErrBadCRL     = errors.New("revocation: CRL not signed by the issuer")
)

// Defaults.
const (
	DefaultTimeout     = 5 * time.Second // per chain
	DefaultFetch       = 3 * time.Second // per request
	DefaultMaxCacheAge = time.Hour
	DefaultFailureTTL  = 5 * time.Minute
	maxOCSPBytes       = 64 << 10
	maxCRLBytes        = 16 << 20
	maxCacheEntries    = 4096
	maxURLsPerMethod   = 4
)

// Options tune a Checker.
type Options struct {
	// HTTP does the fetches (default: a client without redirects to other
	// schemes than http/https, with the proxy from the environment).
	HTTP *http.Client
	// Timeout bounds one Check of a whole chain; Fetch one request.
	Timeout, Fetch time.Duration
	// MaxCacheAge bounds how long a good/revoked answer is reused (also
	// before its nextUpdate); FailureTTL how long a failed fetch is.
	MaxCacheAge, FailureTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Checker checks chains, caching answers.
type Checker struct {
	opts  Options
	mu    sync.Mutex
	cache map[string]cacheEntry
}

type cacheEntry struct {
	expires time.Time
	ocsp    *ocsp.Response
	crl     *x509.RevocationList
	err     error
}

// New returns a Checker.
func New(o Options) *Checker {
	if o.HTTP == nil {
		o.HTTP = &http.Client{
			Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("revocation: too many redirects")
				}
				return nil
			},
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Fetch <= 0 {
		o.Fetch = DefaultFetch
	}
	if o.MaxCacheAge <= 0 {
		o.MaxCacheAge = DefaultMaxCacheAge
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = DefaultFailureTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Checker{opts: o, cache: map[string]cacheEntry{}}
}

// Check checks every certificate of chain (leaf first, as presented) that
// has an issuer in the chain or in extra (e.g. the verified chain's root);
// stapled is the OCSP response stapled to the handshake (may be nil), which
// speaks for the leaf. Self-signed certificates are not checked.
func (c *Checker) Check(ctx context.Context, chain []*x509.Certificate, extra []*x509.Certificate, stapled []byte) []Result {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	pool := append(append([]*x509.Certificate(nil), chain...), extra...)
	var out []Result
	for i, cert := range chain {
		if cert == nil || exchange.IsSelfSigned(cert) {
			continue
		}
		r := Result{Cert: cert, Thumbprint: thumbprint.Of(cert), Depth: i}
		issuer := issuerOf(cert, pool)
		switch {
		case issuer == nil:
			r.Status, r.Note = NotChecked, "the issuer of this certificate is not in the presented chain, so no answer can be verified"
		case len(cert.OCSPServer) == 0 && len(cert.CRLDistributionPoints) == 0 && (i != 0 || len(stapled) == 0):
			r.Status, r.Note = NotChecked, "the certificate names no OCSP responder and no CRL distribution point"
		default:
			var st []byte
			if i == 0 {
				st = stapled
			}
			c.checkOne(ctx, &r, issuer, st)
		}
		out = append(out, r)
	}
	return out
}

func (c *Checker) checkOne(ctx context.Context, r *Result, issuer *x509.Certificate, stapled []byte) {
	now := c.opts.Now()
	if len(stapled) > 0 {
		resp, err := ocsp.ParseResponseForCert(stapled, r.Cert, issuer)
		if err == nil {
			err = c.usable(resp, now)
		}
		if err == nil && c.fromOCSP(r, resp, MethodStapled, "") {
			return
		}
		r.Attempts = append(r.Attempts, Attempt{Method: MethodStapled, Err: errText(err)})
	}
	for _, u := range limit(r.Cert.OCSPServer) {
		resp, cached, err := c.fetchOCSP(ctx, u, r.Cert, issuer)
		if err == nil {
			err = c.usable(resp, now)
		}
		if err == nil && c.fromOCSP(r, resp, MethodOCSP, u) {
			return
		}
		r.Attempts = append(r.Attempts, Attempt{Method: MethodOCSP, URL: u, Err: errText(err), Cached: cached})
	}
	for _, u := range limit(r.Cert.CRLDistributionPoints) {
		crl, cached, err := c.fetchCRL(ctx, u, issuer)
		if err == nil && !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
			err = ErrStale
		}
		if err == nil {
			r.Status, r.Method, r.URL, r.NextUpdate = Good, MethodCRL, u, crl.NextUpdate
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber != nil && e.SerialNumber.Cmp(r.Cert.SerialNumber) == 0 {
					r.Status, r.RevokedAt, r.Reason = Revoked, e.RevocationTime, e.ReasonCode
					break
				}
			}
			return
		}
		r.Attempts = append(r.Attempts, Attempt{Method: MethodCRL, URL: u, Err: errText(err), Cached: cached})
	}
	r.Status = Unavailable
}

func limit(urls []string) []string {
	var out []string
	for _, u := range urls {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			out = append(out, u)
		}
		if len(out) == maxURLsPerMethod {
			break
		}
	}
	return out
}

// fromOCSP fills r from a usable response; false for "unknown" (ask on).
func (c *Checker) fromOCSP(r *Result, resp *ocsp.Response, method, url string) bool {
	switch resp.Status {
	case ocsp.Good:
		r.Status = Good
	case ocsp.Revoked:
		r.Status, r.RevokedAt, r.Reason = Revoked, resp.RevokedAt, resp.RevocationReason
	default:
		return false
	}
	r.Method, r.URL, r.NextUpdate = method, url, resp.NextUpdate
	return true
}

func (c *Checker) usable(resp *ocsp.Response, now time.Time) error {
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		return ErrStale
	}
	if resp.Status == ocsp.Unknown {
		return ErrUnknown
	}
	return nil
}

func (c *Checker) fetchOCSP(ctx context.Context, url string, cert, issuer *x509.Certificate) (*ocsp.Response, bool, error) {
	key := "ocsp\x00" + url + "\x00" + thumbprint.Of(issuer) + "\x00" + cert.SerialNumber.String()
	if e, ok := c.cached(key); ok {
		return e.ocsp, true, e.err
	}
	resp, err := c.doOCSP(ctx, url, cert, issuer)
	exp := c.opts.Now().Add(c.opts.FailureTTL)
	if err == nil {
		exp = c.expiry(resp.NextUpdate)
	}
	c.store(key, cacheEntry{expires: exp, ocsp: resp, err: err})
	return resp, false, err
}

func (c *Checker) doOCSP(ctx context.Context, url string, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("revocation: OCSP request: %w", err)
	}
	body, err := c.fetch(ctx, http.MethodPost, url, req, "application/ocsp-request", maxOCSPBytes)
	if err != nil {
		return nil, err
	}
	return ParseOCSP(body, cert, issuer)
}

// ParseOCSP parses and verifies an OCSP response for cert (signed by issuer
// or a responder it delegated to).
func ParseOCSP(der []byte, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s", ErrOCSPStatus, re.Status)
		}
		return nil, fmt.Errorf("revocation: OCSP response: %w", err)
	}
	return resp, nil
}

func (c *Checker) fetchCRL(ctx context.Context, url string, issuer *x509.Certificate) (*x509.RevocationList, bool, error) {
	key := "crl\x00" + url + "\x00" + thumbprint.Of(issuer)
	if e, ok := c.cached(key); ok {
		return e.crl, true, e.err
	}
	var crl *x509.RevocationList
	body, err := c.fetch(ctx, http.MethodGet, url, nil, "", maxCRLBytes)
	if err == nil {
		crl, err = ParseCRL(body, issuer)
	}
	exp := c.opts.Now().Add(c.opts.FailureTTL)
	if err == nil {
		exp = c.expiry(crl.NextUpdate)
	}
	c.store(key, cacheEntry{expires: exp, crl: crl, err: err})
	return crl, false, err
}

// ParseCRL parses a DER (or PEM) CRL and checks it is signed by issuer.
func ParseCRL(der []byte, issuer *x509.Certificate) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(der); b != nil {
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("revocation: CRL: %w", err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCRL, err)
	}
	return crl, nil
}

func (c *Checker) fetch(ctx context.Context, method, url string, body []byte, ctype string, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Fetch)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.opts.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s", ErrHTTPStatus, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("revocation: read %s: %w", url, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

func (c *Checker) expiry(next time.Time) time.Time {
	now := c.opts.Now()
	exp := now.Add(c.opts.MaxCacheAge)
	if !next.IsZero() && next.Before(exp) {
		exp = next
	}
	return exp
}

func (c *Checker) cached(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[key]
	if !ok || !c.opts.Now().Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *Checker) store(key string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= maxCacheEntries {
		now := c.opts.Now()
		for k, v := range c.cache {
			if !now.Before(v.expires) {
				delete(c.cache, k)
			}
		}
		if len(c.cache) >= maxCacheEntries {
			clear(c.cache)
		}
	}
	c.cache[key] = e
}

func issuerOf(c *x509.Certificate, pool []*x509.Certificate) *x509.Certificate {
	for _, p := range pool {
		if p != nil && p != c && bytes.Equal(c.RawIssuer, p.RawSubject) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
