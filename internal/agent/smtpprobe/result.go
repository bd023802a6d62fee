package smtpprobe

import (
	"crypto/x509"
	"strings"
	"time"
)

// Phase is how far a probe got. A failed probe stops in the phase that
// failed; a complete one ends in PhaseDone.
type Phase string

// Phases in order.
const (
	PhaseConnect   Phase = "connect"
	PhaseBanner    Phase = "banner"
	PhaseEHLO      Phase = "ehlo"
	PhaseStartTLS  Phase = "starttls"
	PhaseHandshake Phase = "handshake"
	// PhasePostTLS is the EHLO repeated inside TLS.
	PhasePostTLS Phase = "ehlo-tls"
	PhaseDone    Phase = "done"
)

// Capability is one EHLO extension line: the keyword upper-cased, its
// parameters as sent.
type Capability struct {
	Keyword string
	Params  []string
}

// Capabilities is an EHLO reply's extension list.
type Capabilities []Capability

// Has reports whether keyword (case-insensitive) is advertised.
func (cs Capabilities) Has(keyword string) bool {
	_, ok := cs.Get(keyword)
	return ok
}

// Get returns the capability for keyword (case-insensitive).
func (cs Capabilities) Get(keyword string) (Capability, bool) {
	for _, c := range cs {
		if strings.EqualFold(c.Keyword, keyword) {
			return c, true
		}
	}
	return Capability{}, false
}

// parseEHLO splits an EHLO reply into its greeting line and capabilities.
func parseEHLO(r Reply) (greeting string, caps Capabilities) {
	if len(r.Lines) == 0 {
		return "", nil
	}
	for _, l := range r.Lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		caps = append(caps, Capability{Keyword: strings.ToUpper(f[0]), Params: f[1:]})
	}
	return r.Lines[0], caps
}

// TLSInfo describes the TLS session, or the attempt at one.
type TLSInfo struct {
	// Version and CipherSuite are zero when the handshake failed.
	Version         uint16
	VersionName     string
	CipherSuite     uint16
	CipherSuiteName string
	// ServerName is the SNI sent; ExpectName the name verified.
	ServerName string
	ExpectName string
	// PeerCertificates is the chain exactly as presented, leaf first; it is
	// recorded even when verification fails, and whenever the handshake got
	// as far as the server's Certificate message.
	PeerCertificates []*x509.Certificate
	// OCSPStaple is the OCSP response the server stapled to the handshake
	// (DER), if any.
	OCSPStaple []byte
	// LeafKeyAlgorithm ("RSA", "ECDSA", "Ed25519") and LeafKeyBits describe
	// the leaf's public key.
	LeafKeyAlgorithm string
	LeafKeyBits      int
	// Verify lists every problem found with PeerCertificates; it is nil when
	// the chain verified against the roots and the leaf carries ExpectName,
	// and also when no certificate was received (see Verified).
	Verify *VerifyError
	// Alert is the TLS alert the server sent, if any ("tls: bad certificate").
	Alert string
	// ServerBytes is how many bytes the server sent from the start of the
	// handshake until it completed or failed: 0 means the server never
	// answered the ClientHello (a reset or a silent drop right after it).
	ServerBytes int64
	// ClientCertificate is the certificate the agent presented, when the
	// server asked for one and one was configured.
	ClientCertificate *x509.Certificate
	// ClientCertReply is the SMTP reply with which the server refused the
	// session right after the handshake because of the client certificate
	// ("421 4.7.1 Client certificate not trusted"), if it did.
	ClientCertReply *Reply
	// ClientCertAcceptableCAs are the CA names from the server's
	// CertificateRequest.
	ClientCertAcceptableCAs []string
}

// Verified reports a handshake whose chain and name verified.
func (t *TLSInfo) Verified() bool { return t != nil && t.Version != 0 && t.Verify == nil }

// VersionOutcome is what a handshake pinned to one TLS version proved.
type VersionOutcome string

// Version outcomes. Only Accepted, Refused and Dropped are evidence about
// the server's TLS versions; Unknown proves nothing (a timeout, an SMTP
// failure before TLS, a cancelled probe).
const (
	// VersionAccepted: the handshake completed with that version.
	VersionAccepted VersionOutcome = "accepted"
	// VersionRefused: the server answered the ClientHello with a TLS alert.
	VersionRefused VersionOutcome = "refused"
	// VersionDropped: the server closed or reset the connection right after
	// the ClientHello without sending anything. On its own that can be a
	// device in the path; it counts as a refusal only when another version
	// was accepted on a connection set up the same way.
	VersionDropped VersionOutcome = "dropped"
	// VersionUnknown: nothing was learned about the version.
	VersionUnknown VersionOutcome = "unknown"
)

// VersionResult is the outcome of a handshake pinned to one TLS version.
type VersionResult struct {
	Version   uint16
	Name      string
	Supported bool
	Outcome   VersionOutcome
	// Err is nil when Supported; it wraps ErrHandshake when the handshake
	// failed (see Outcome for whether that proves anything), or another
	// sentinel when the SMTP part failed.
	Err error
}

// Durations are wall-clock times of the probe's steps.
type Durations struct {
	Connect   time.Duration
	Banner    time.Duration // connect to complete greeting
	Handshake time.Duration
	Total     time.Duration
}

// Result is everything a probe learned. It is data: a failed verification
// or a refused STARTTLS is described here, not hidden behind Err.
type Result struct {
	// Target is the normalised host:port probed.
	Target     string
	RemoteAddr string
	Phase      Phase
	// Err is nil when Phase is PhaseDone; certificate problems do not set
	// it (see TLS.Verify).
	Err error

	// Banner holds the greeting's lines; GreetingCode its code.
	Banner       []string
	GreetingCode int
	// BannerBytes is how many bytes arrived before the greeting completed
	// or failed (a connected server that sent nothing: 0).
	BannerBytes int64
	// MaskedCapabilities are EHLO keywords made only of X's (Cisco ASA/PIX
	// "inspect esmtp" overwrites the extensions it does not allow, STARTTLS
	// becoming "XXXXXXXA"); MaskedBanner is set when the greeting is
	// asterisks, the same device's banner masking.
	MaskedCapabilities []string
	MaskedBanner       bool

	// EHLOGreeting is the first line of the EHLO (or HELO) reply.
	EHLOGreeting string
	Capabilities Capabilities
	UsedHELO     bool

	StartTLSOffered bool
	// StartTLSReply is the answer to STARTTLS, nil when not sent.
	StartTLSReply *Reply

	TLS                 *TLSInfo
	PostTLSCapabilities Capabilities

	ClientCertRequested bool
	ClientCertPresented bool
	ClientCertRejected  bool

	// SupportedVersions is filled when Options.ProbeVersions is set, in
	// order TLS 1.0, 1.1, 1.2, 1.3.
	SupportedVersions []VersionResult

	// Transcript is the dialogue, "> " lines sent and "< " lines received,
	// bounded in size; nothing inside TLS records is shown.
	Transcript []string

	Durations Durations
}

// OK reports a complete probe whose certificate verified.
func (r *Result) OK() bool { return r.Err == nil && r.TLS.Verified() }

// Supports reports whether version probing found the server accepting v.
func (r *Result) Supports(v uint16) bool {
	for _, vr := range r.SupportedVersions {
		if vr.Version == v {
			return vr.Supported
		}
	}
	return false
}

// maxTranscript bounds Result.Transcript.
const maxTranscript = 600

func (r *Result) logSent(line string) {
	if len(r.Transcript) < maxTranscript {
		r.Transcript = append(r.Transcript, "> "+line)
	}
}

func (r *Result) logReply(rep Reply) {
	for i, l := range rep.Lines {
		if len(r.Transcript) >= maxTranscript {
			return
		}
		sep := "-"
		if i == len(rep.Lines)-1 {
			sep = " "
		}
		r.Transcript = append(r.Transcript, "< "+threeDigits(rep.Code)+sep+l)
	}
}

func threeDigits(c int) string {
	return string([]byte{byte('0' + c/100%10), byte('0' + c/10%10), byte('0' + c%10)})
}
