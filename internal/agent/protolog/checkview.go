package protolog

import "time"

// CheckView is what a consumer of sessions that only diagnoses them
// (diagnose.LogWindow: agent check) reads of a Session: the path (ID,
// Direction, Connector, Remote, RemoteName), the time range, EHLO and
// STARTTLS, the capabilities, the TLS outcome without its time, the
// 4xx/5xx replies and the certificate this server sent last
// (SentCertificate) with its role, label, subject, issuer and thumbprint.
// Everything else is zero: the local endpoint, the files, the row count,
// Closed, the reply codes, the peer's and any other certificate, the
// receive-side certificate statuses, Truncated and the times of
// certificates and TLS outcome.
//
// A Parser with CheckView set gives exactly CheckView of what it gives
// without (FuzzCheckViewEqualsFull), and spends less on rows whose effect
// CheckView drops: certificate fields nobody reads keep only whether they
// are there (checkPlaceholder), replies below 400 other than a banner or an
// EHLO reply that is still being read change nothing, and '*' rows are not
// timed. diagnose's TestWindowReadsCheckView shows that a window fed
// CheckView sessions gives the findings of one fed whole sessions.
//
// It reuses s.Certificates' backing array.
func CheckView(s Session) Session {
	v := Session{
		ID: s.ID, Direction: s.Direction, Connector: s.Connector, Remote: s.Remote, RemoteName: s.RemoteName,
		Start: s.Start, End: s.End,
		EHLOSeen: s.EHLOSeen, StartTLSOffered: s.StartTLSOffered, StartTLSIssued: s.StartTLSIssued, Capabilities: s.Capabilities,
		TLS: s.TLS, Replies: s.Replies,
	}
	v.TLS.Time = time.Time{}
	if c := s.SentCertificate(); c != nil {
		sent := Certificate{Role: c.Role, Label: c.Label, Subject: c.Subject, Issuer: c.Issuer, Thumbprint: c.Thumbprint}
		v.Certificates = append(s.Certificates[:0], sent)
	}
	return v
}

// checkPlaceholder stands for a certificate field CheckView drops that is
// not empty.
const checkPlaceholder = "-"
