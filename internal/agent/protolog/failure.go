package protolog

import "strconv"

// Aggregation across sessions (failure groups, certificates seen, counts
// over time) is not done here: diagnose.LogWindow is its one owner. This
// file only says whether one session failed its TLS setup.

// tlsReplySignatures are reply codes that by themselves mean a TLS setup
// failure even when no "TLS negotiation failed" row exists.
var tlsReplySignatures = []struct {
	code     int
	enhanced string
}{
	{454, "4.7.5"}, // TlsCertificateName not found
	{451, "5.7.3"}, // STARTTLS required / must issue STARTTLS first
	{421, "4.4.2"}, // Connection dropped due to SocketError
	{450, "4.7.320"},
	{450, "4.4.317"},
	{550, "5.7.51"},
}

// FailureStatus returns the session's TLS failure status and whether the
// session failed: the SSPI status of "TLS negotiation failed with error X"
// (e.g. "NoCredentials") or, when the handshake never ran, the TLS-related
// reply that stopped it as "code enhanced" (e.g. "454 4.7.5").
func (s *Session) FailureStatus() (string, bool) {
	if s.TLS.Failed {
		return s.TLS.Status, true
	}
	for _, sig := range tlsReplySignatures {
		if s.HasReply(sig.code, sig.enhanced) {
			return strconv.Itoa(sig.code) + " " + sig.enhanced, true
		}
	}
	return "", false
}
