package smtpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultEHLOName = "mxprobe.invalid"
)

// DialFunc dials the target; net.Dialer.DialContext fits. It must return
// when ctx is done: the probe's deadline is carried by ctx.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Options configures a probe. The zero value probes with a 10 s deadline
// against the system roots, verifying the target's host name.
type Options struct {
	// Timeout bounds the whole Probe call, version probing included
	// (default 10 s). A context deadline that comes sooner wins.
	Timeout time.Duration
	// EHLOName is the name sent with EHLO/HELO; default os.Hostname(), or
	// "mxprobe.invalid" when that is not a usable domain.
	EHLOName string
	// ServerName is sent as SNI; default the target host unless it is an IP.
	ServerName string
	// ExpectName is the name the certificate must carry; default ServerName,
	// else the target host.
	ExpectName string
	// RootCAs verifies the chain; nil means the system roots.
	RootCAs *x509.CertPool
	// ClientCertificate is presented when the server asks for one.
	ClientCertificate *tls.Certificate
	// ProbeVersions additionally tries TLS 1.0, 1.1, 1.2 and 1.3, each on its
	// own connection, and records which the server accepts.
	ProbeVersions bool
	// MinVersion and MaxVersion bound the main handshake (default TLS 1.0 to
	// TLS 1.3: the prober wants to see legacy servers, not refuse them).
	MinVersion uint16
	MaxVersion uint16
	// DialContext replaces the default dialer (tests, proxies, source
	// address selection).
	DialContext DialFunc
	// Limits bound reply sizes and idle time.
	Limits Limits
}

func (o Options) withDefaults(host string) (Options, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.EHLOName == "" {
		o.EHLOName = DefaultEHLOName
		if h, err := os.Hostname(); err == nil && validEHLOName(h) {
			o.EHLOName = h
		}
	} else if !validEHLOName(o.EHLOName) {
		return o, fmt.Errorf("%w: EHLO name %q", ErrInvalidOptions, o.EHLOName)
	}
	if o.ServerName == "" && net.ParseIP(host) == nil {
		o.ServerName = host
	}
	if o.ExpectName == "" {
		o.ExpectName = o.ServerName
		if o.ExpectName == "" {
			o.ExpectName = host
		}
	}
	if o.MinVersion == 0 {
		o.MinVersion = tls.VersionTLS10
	}
	if o.MaxVersion == 0 {
		o.MaxVersion = tls.VersionTLS13
	}
	if o.MinVersion > o.MaxVersion {
		return o, fmt.Errorf("%w: MinVersion %s above MaxVersion %s", ErrInvalidOptions,
			tls.VersionName(o.MinVersion), tls.VersionName(o.MaxVersion))
	}
	if o.DialContext == nil {
		var d net.Dialer
		o.DialContext = d.DialContext
	}
	o.Limits = o.Limits.withDefaults()
	return o, nil
}
