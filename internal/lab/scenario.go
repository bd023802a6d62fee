package lab

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Scenario names one lab server behaviour.
type Scenario string

// Certificate and TLS scenarios: the server speaks correct SMTP and offers
// STARTTLS (unless noted); what is wrong is the TLS side.
const (
	// Good: CA-issued certificate whose names match (hostname, localhost,
	// 127.0.0.1), TLS 1.2-1.3.
	Good Scenario = "good"
	// Expired: CA-issued, expired ten days ago.
	Expired Scenario = "expired"
	// NotYetValid: CA-issued, valid from tomorrow.
	NotYetValid Scenario = "not-yet-valid"
	// SelfSigned: a self-signed certificate, like Exchange's default
	// "CN=SERVER" certificate.
	SelfSigned Scenario = "self-signed"
	// WrongName: CA-issued for wrong.example.net only.
	WrongName Scenario = "wrong-name"
	// MissingIntermediate: the leaf is issued by an intermediate of the
	// server's CA, and the server presents only the leaf.
	MissingIntermediate Scenario = "missing-intermediate"
	// NoStartTLS: the EHLO reply lacks STARTTLS (catalog K) and the verb is
	// rejected with 500.
	NoStartTLS Scenario = "no-starttls"
	// StartTLSRefused: STARTTLS is advertised but answered with
	// "454 4.7.0 TLS not available due to temporary reason".
	StartTLSRefused Scenario = "starttls-refused"
	// LegacyTLS: the server accepts only TLS 1.0 and 1.1 (Go still
	// negotiates them when both sides configure them explicitly).
	LegacyTLS Scenario = "legacy-tls"
	// TLS10Only: the server accepts only TLS 1.0.
	TLS10Only Scenario = "tls10-only"
	// RequireClientCert: the server requires a client certificate and
	// verifies it against ServerOptions.ClientCAs (default: the lab CA).
	RequireClientCert Scenario = "require-client-cert"
	// WeakKey: CA-issued certificate with an RSA-1024 key.
	WeakKey Scenario = "weak-key"
	// RejectClientCertReply: the server asks for a client certificate, lets
	// the handshake complete whatever is presented, and then answers EHLO
	// with "421 4.7.1 Client certificate not trusted" unless the certificate
	// verifies against ServerOptions.ClientCAs (default: the lab CA): how
	// Exchange and other MTAs refuse a partner's certificate in SMTP.
	RejectClientCertReply Scenario = "reject-client-cert-reply"
)

// Hostile scenarios: peers that try to hang or confuse a prober.
const (
	// Silent accepts the connection and never sends a banner.
	Silent Scenario = "silent"
	// HugeLine sends a 1 MiB banner line without a newline.
	HugeLine Scenario = "huge-line"
	// EndlessMultiline answers EHLO with "250-" lines forever.
	EndlessMultiline Scenario = "endless-multiline"
	// GarbageTLS answers STARTTLS with 220 and then sends random bytes
	// instead of a ServerHello.
	GarbageTLS Scenario = "garbage-tls"
	// CloseMidHandshake answers STARTTLS with 220, reads the ClientHello and
	// closes the connection.
	CloseMidHandshake Scenario = "close-mid-handshake"
	// DripFeed sends its banner one byte per ServerOptions.DripInterval
	// (default one second), then behaves like Good.
	DripFeed Scenario = "drip-feed"
	// HELOOnly rejects EHLO with 500 and accepts HELO (so no STARTTLS).
	HELOOnly Scenario = "helo-only"
	// NonSMTP answers like an SSH server ("SSH-2.0-OpenSSH_9.6p1 ..."): a
	// service that is not SMTP on the port.
	NonSMTP Scenario = "non-smtp"
	// InvalidBanner greets with a line whose reply code is not SMTP ("999").
	InvalidBanner Scenario = "invalid-banner"
	// ResetAfterStartTLS answers STARTTLS with 220, reads the ClientHello
	// and resets the connection (RST), as a firewall or IPS that refuses
	// TLS it cannot inspect does.
	ResetAfterStartTLS Scenario = "reset-after-starttls"
	// StallRepeatHandshakes serves the first connection like Good and then
	// never answers the ClientHello of later connections (a rate limiter or
	// an overloaded path): handshakes time out without anything refused.
	StallRepeatHandshakes Scenario = "stall-repeat-handshakes"
	// ESMTPInspection behaves like a server behind a Cisco ASA/PIX with
	// "inspect esmtp": the banner is masked with asterisks, STARTTLS in the
	// EHLO reply is overwritten with "XXXXXXXA", and the verb is refused.
	ESMTPInspection Scenario = "esmtp-inspection"
)

// Scenarios lists every scenario, certificate ones first.
func Scenarios() []Scenario {
	return []Scenario{
		Good, Expired, NotYetValid, SelfSigned, WrongName, MissingIntermediate,
		NoStartTLS, StartTLSRefused, LegacyTLS, TLS10Only, RequireClientCert, WeakKey, RejectClientCertReply,
		Silent, HugeLine, EndlessMultiline, GarbageTLS, CloseMidHandshake, DripFeed, HELOOnly,
		NonSMTP, InvalidBanner, ResetAfterStartTLS, StallRepeatHandshakes, ESMTPInspection,
	}
}

func (sc Scenario) known() bool {
	for _, s := range Scenarios() {
		if s == sc {
			return true
		}
	}
	return false
}

// offersStartTLS reports whether EHLO advertises STARTTLS.
func (sc Scenario) offersStartTLS() bool {
	return sc != NoStartTLS && sc != HELOOnly && sc != ESMTPInspection
}

// scenarioCert mints the certificate a scenario presents and says whether
// the chain must be cut down to the leaf.
func scenarioCert(sc Scenario, ca *CA, hostname string) (*Issued, bool, error) {
	now := time.Now()
	good := IssueOptions{
		CommonName:   hostname,
		Organization: []string{"mxprobe lab"},
		DNSNames:     []string{hostname, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	opts := good
	leafOnly := false
	switch sc {
	case Expired:
		opts.NotBefore = now.AddDate(-1, 0, -10)
		opts.NotAfter = now.AddDate(0, 0, -10)
	case NotYetValid:
		opts.NotBefore = now.AddDate(0, 0, 1)
		opts.NotAfter = now.AddDate(1, 0, 1)
	case SelfSigned:
		opts.SelfSigned = true
	case WrongName:
		opts.CommonName = "wrong.example.net"
		opts.DNSNames = []string{"wrong.example.net"}
		opts.IPAddresses = nil
	case WeakKey:
		opts.KeyType, opts.RSABits = KeyRSA, 1024
	case MissingIntermediate:
		inter, err := ca.Issue(IssueOptions{CommonName: "mxprobe lab intermediate CA", IsCA: true})
		if err != nil {
			return nil, false, err
		}
		ica, err := inter.AsCA()
		if err != nil {
			return nil, false, err
		}
		ca, leafOnly = ica, true
	}
	is, err := ca.Issue(opts)
	if err != nil {
		return nil, false, err
	}
	return is, leafOnly, nil
}

// tlsConfig builds the server-side TLS configuration for a scenario.
func tlsConfig(sc Scenario, cert tls.Certificate, opts ServerOptions, ca *CA) *tls.Config {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	switch sc {
	case LegacyTLS:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	case TLS10Only:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
	case RequireClientCert:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = opts.ClientCAs
		if cfg.ClientCAs == nil {
			cfg.ClientCAs = ca.Pool()
		}
	case RejectClientCertReply:
		// Verified after the handshake, in SMTP (session.certNotTrusted).
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg
}

func (sc Scenario) validate() error {
	if !sc.known() {
		return fmt.Errorf("%w: %q", ErrUnknownScenario, string(sc))
	}
	return nil
}
