package smtpprobe

import "errors"

// Sentinel errors. Result.Err and ReadReply's errors wrap one or more of
// them; test with errors.Is.
var (
	// ErrInvalidTarget: the target is not host, host:port or smtp://host[:port].
	ErrInvalidTarget = errors.New("smtpprobe: invalid target")
	// ErrInvalidOptions: an option is unusable (e.g. an EHLO name with spaces).
	ErrInvalidOptions = errors.New("smtpprobe: invalid options")
	// ErrConnect: the TCP connection could not be established.
	ErrConnect = errors.New("smtpprobe: connect failed")
	// ErrTimeout: the overall deadline or a per-read idle deadline passed.
	ErrTimeout = errors.New("smtpprobe: timeout")
	// ErrNoBanner: no complete 220 greeting was received (wraps the cause).
	ErrNoBanner = errors.New("smtpprobe: no banner")
	// ErrRejected: the server refused the session (non-220 greeting, or
	// both EHLO and HELO refused).
	ErrRejected = errors.New("smtpprobe: session rejected")
	// ErrLineTooLong: a reply line exceeded Limits.MaxLineLength.
	ErrLineTooLong = errors.New("smtpprobe: reply line too long")
	// ErrTooManyLines: a reply exceeded Limits.MaxLines lines.
	ErrTooManyLines = errors.New("smtpprobe: too many reply lines")
	// ErrProtocol: the server sent something that is not valid SMTP.
	ErrProtocol = errors.New("smtpprobe: protocol error")
	// ErrClosed: the server closed the connection in the middle of the dialogue.
	ErrClosed = errors.New("smtpprobe: connection closed by server")
	// ErrStartTLSNotOffered: EHLO did not advertise STARTTLS (or only HELO worked).
	ErrStartTLSNotOffered = errors.New("smtpprobe: STARTTLS not offered")
	// ErrStartTLSRefused: STARTTLS was answered with something other than 220.
	ErrStartTLSRefused = errors.New("smtpprobe: STARTTLS refused")
	// ErrHandshake: the TLS handshake failed.
	ErrHandshake = errors.New("smtpprobe: TLS handshake failed")
	// ErrClientCertRejected: the server asked for a client certificate and
	// refused the session because of it: with a certificate alert (wrapped
	// together with ErrHandshake) or, right after the handshake, with an
	// SMTP reply about the certificate such as "421 4.7.1 Client
	// certificate not trusted" (wrapped together with ErrRejected).
	ErrClientCertRejected = errors.New("smtpprobe: client certificate rejected")
)
