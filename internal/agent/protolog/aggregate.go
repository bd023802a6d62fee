package protolog

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FailureKey groups TLS failures.
type FailureKey struct {
	Direction  Direction `json:"direction"`
	Connector  string    `json:"connector"`
	RemoteHost string    `json:"remoteHost"` // remote IP (port stripped)
	// Status is the SSPI status of "TLS negotiation failed with error X"
	// (e.g. "NoCredentials") or, when the handshake never ran, the TLS
	// related reply that stopped it, as "code enhanced" (e.g. "454 4.7.5").
	Status string `json:"status"`
	// Thumbprint is the certificate this server sent ("" if none logged).
	Thumbprint string `json:"thumbprint,omitempty"`
}

// TLSFailure is one group of failed sessions.
type TLSFailure struct {
	FailureKey
	Count      int       `json:"count"`
	FirstSeen  time.Time `json:"firstSeen"`
	LastSeen   time.Time `json:"lastSeen"`
	SessionIDs []string  `json:"sessionIds"` // up to maxSampleSessions examples
	RemoteName string    `json:"remoteName,omitempty"`
	Subject    string    `json:"subject,omitempty"` // subject of the sent certificate
}

const maxSampleSessions = 5

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

// FailureStatus returns the session's TLS failure status (see
// FailureKey.Status) and whether the session failed.
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

// TLSFailures groups failed sessions by (direction, connector, remote
// host, status, thumbprint sent), ordered by count descending then key.
func TLSFailures(sessions []Session) []TLSFailure {
	idx := map[FailureKey]int{}
	var out []TLSFailure
	for i := range sessions {
		s := &sessions[i]
		status, ok := s.FailureStatus()
		if !ok {
			continue
		}
		k := FailureKey{Direction: s.Direction, Connector: s.Connector, RemoteHost: s.RemoteHost(), Status: status}
		var subj string
		if c := s.SentCertificate(); c != nil {
			k.Thumbprint = strings.ToUpper(c.Thumbprint)
			subj = c.Subject
		}
		j, seen := idx[k]
		if !seen {
			j = len(out)
			idx[k] = j
			out = append(out, TLSFailure{FailureKey: k, FirstSeen: s.Start, LastSeen: s.End, RemoteName: s.RemoteName, Subject: subj})
		}
		f := &out[j]
		f.Count++
		if !s.Start.IsZero() && (f.FirstSeen.IsZero() || s.Start.Before(f.FirstSeen)) {
			f.FirstSeen = s.Start
		}
		if s.End.After(f.LastSeen) {
			f.LastSeen = s.End
		}
		if len(f.SessionIDs) < maxSampleSessions {
			f.SessionIDs = append(f.SessionIDs, s.ID)
		}
	}
	slices.SortStableFunc(out, func(a, b TLSFailure) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Connector, b.Connector),
			cmp.Compare(a.RemoteHost, b.RemoteHost), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Thumbprint, b.Thumbprint))
	})
	return out
}

// TLSFailures groups this summary's failed sessions; see TLSFailures.
func (s *Summary) TLSFailures() []TLSFailure { return TLSFailures(s.Sessions) }

// CertUsage is one distinct certificate seen, with how often and how it fared.
type CertUsage struct {
	Role       CertRole  `json:"role"`
	Thumbprint string    `json:"thumbprint"`
	Subject    string    `json:"subject,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
	Sessions   int       `json:"sessions"`
	Failed     int       `json:"failed"`
	Succeeded  int       `json:"succeeded"`
	FirstSeen  time.Time `json:"firstSeen"`
	LastSeen   time.Time `json:"lastSeen"`
	Connectors []string  `json:"connectors"`
}

// CertificatesSeen lists distinct (role, thumbprint) pairs with outcome
// counts: a local thumbprint that only ever fails, or two local
// thumbprints on one connector, are strong diagnostic signals.
func CertificatesSeen(sessions []Session) []CertUsage {
	type key struct {
		r CertRole
		t string
	}
	idx := map[key]int{}
	var out []CertUsage
	for i := range sessions {
		s := &sessions[i]
		seen := map[key]bool{}
		for _, c := range s.Certificates {
			k := key{c.Role, strings.ToUpper(c.Thumbprint)}
			if k.t == "" || seen[k] {
				continue
			}
			seen[k] = true
			j, ok := idx[k]
			if !ok {
				j = len(out)
				idx[k] = j
				out = append(out, CertUsage{Role: c.Role, Thumbprint: k.t, Subject: c.Subject, Issuer: c.Issuer, FirstSeen: s.Start})
			}
			u := &out[j]
			u.Sessions++
			if s.TLS.Failed {
				u.Failed++
			} else if s.TLS.Succeeded {
				u.Succeeded++
			}
			if !s.Start.IsZero() && (u.FirstSeen.IsZero() || s.Start.Before(u.FirstSeen)) {
				u.FirstSeen = s.Start
			}
			if s.End.After(u.LastSeen) {
				u.LastSeen = s.End
			}
			if !slices.Contains(u.Connectors, s.Connector) && len(u.Connectors) < 64 {
				u.Connectors = append(u.Connectors, s.Connector)
			}
		}
	}
	return out
}
