package smtpprobe

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is used when a target names no port.
const DefaultPort = "25"

// ParseTarget normalises "host", "host:port", "[v6]:port", a bare IPv6
// address or "smtp://host[:port]" to host:port (port 25 by default). Other
// URL schemes (smtps is implicit TLS, not STARTTLS), paths, queries and user
// info are rejected with ErrInvalidTarget.
func ParseTarget(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidTarget)
	}
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrInvalidTarget, s, err)
		}
		if !strings.EqualFold(u.Scheme, "smtp") {
			return "", fmt.Errorf("%w: %q: scheme %q is not smtp", ErrInvalidTarget, s, u.Scheme)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return "", fmt.Errorf("%w: %q: only smtp://host[:port] is accepted", ErrInvalidTarget, s)
		}
		s = u.Host
	}
	host, port := s, DefaultPort
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil && strings.Count(s, ":") > 1 && !strings.Contains(s, "]:") {
		host = ip.String() // bare or bracketed IPv6 without port
	} else if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Contains(s, ":") && !strings.HasSuffix(s, "]") {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidTarget, s, err)
	} else {
		host = strings.Trim(s, "[]")
	}
	if err := validHost(host); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidTarget, s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: %q: bad port %q", ErrInvalidTarget, s, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func validHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name too long")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("invalid character %q in host", c)
		}
	}
	return nil
}

// validEHLOName accepts a domain or an address literal, nothing that could
// inject a second command.
func validEHLOName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._:[]", c)) {
			return false
		}
	}
	return true
}
