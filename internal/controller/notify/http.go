package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// ErrForbiddenDestination is a destination refused by the SSRF guard.
var ErrForbiddenDestination = errors.New("notify: destination address not allowed (private, loopback or link-local; set notify.allow_private)")

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// forbidden reports addresses outbound notifications may not reach unless
// private destinations are allowed.
func forbidden(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a)
}

// guardedTransport checks the address actually dialled (after DNS, so a
// name resolving to an internal address is refused too). No proxy.
func guardedTransport(allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenDestination, address)
			}
			if forbidden(ap.Addr()) {
				return ErrForbiddenDestination
			}
			return nil
		}
	}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// validURL checks a configured target URL (http or https with a host).
func validURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("notify: %s: URL must be http(s)://host/...", what)
	}
	return u, nil
}

// outcome classifies one attempt.
type outcome int

const (
	outcomeOK        outcome = iota
	outcomeRetry             // 408, 429, 5xx, network error
	outcomePermanent         // other 4xx, 3xx, request build errors
	outcomeGone              // 410
)

func classify(status int, err error) outcome {
	switch {
	case err != nil:
		return outcomeRetry
	case status >= 200 && status < 300:
		return outcomeOK
	case status == http.StatusGone:
		return outcomeGone
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return outcomeRetry
	default:
		return outcomePermanent
	}
}

// maxRetryAfter caps a receiver's Retry-After.
const maxRetryAfter = time.Hour

// retryAfter parses Retry-After (seconds or HTTP date); 0 when absent.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		// Compared in seconds first: a huge count must not overflow
		// into a short (or negative) wait.
		d = time.Duration(min(max(n, 0), int(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// backoff is the wait before attempt n+1 after n failed attempts:
// exponential from base, capped, with jitter in [d/2, d].
func backoff(n int, base, maxD time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	half := d / 2
	return half + rand.N(half+1)
}

// errText is an error without the request URL (it may carry credentials).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
