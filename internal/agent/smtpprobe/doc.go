// Package smtpprobe is mxprobe's live SMTP STARTTLS prober.
//
// Probe connects to an SMTP server, reads the (possibly multi-line) banner,
// says EHLO (falling back to HELO), issues STARTTLS when offered, completes the
// TLS handshake, says EHLO again and QUITs. It never sends mail. The dialogue
// is a coded state machine over a bounded reply reader (ReadReply), so hostile
// or broken servers (silent, drip-feeding, endless replies, megabyte lines,
// garbage instead of a ServerHello) end in a classified error within the
// probe's deadline.
//
// The certificate chain the server presents is recorded even when it does not
// verify: the handshake runs with InsecureSkipVerify and a VerifyConnection
// hook that captures the chain, and verification (expiry, chain, name, weak
// signature or key) is then done separately and stored as data in
// TLSInfo.Verify. An expired certificate therefore looks like "expired", never
// like "down".
//
// Result.Err is nil when the probe reached PhaseDone; otherwise it wraps one or
// more of the package's sentinel errors (ErrConnect, ErrTimeout, ErrNoBanner,
// ErrStartTLSNotOffered, ErrHandshake, ...) for errors.Is.
package smtpprobe
