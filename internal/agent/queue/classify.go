package queue

import "strings"

// Signature is one failure-catalog entry recognisable from a LastError.
// Catalog letters are the failure-catalog rows (A-K) that the catalog
// column of docs/findings.md names.
type Signature struct {
	ID         string   `json:"id"`
	Code       int      `json:"code"`
	Enhanced   string   `json:"enhanced"`
	Text       string   `json:"text,omitempty"` // required substring of the reply (case-insensitive), "" = any
	Catalog    []string `json:"catalog"`
	TLS        bool     `json:"tls"`        // TLS/certificate failure
	Connection bool     `json:"connection"` // connection-level failure (timeout, refused, dropped)
	Summary    string   `json:"summary"`
}

// Signature IDs.
const (
	SigTargetHostTimeout   = "queue-451-4.4.395-timeout"
	SigConnectionTimedOut  = "queue-421-4.4.1-timeout"
	SigUnableToConnect     = "queue-421-4.2.1-unable-to-connect"
	SigCertNotFound        = "smtp-454-4.7.5-cert-not-found"
	SigMustIssueStartTLS   = "smtp-451-5.7.3-must-issue-starttls"
	SigStartTLSRequired    = "smtp-451-5.7.3-starttls-required"
	SigSocketErrorDrop     = "smtp-421-4.4.2-socketerror"
	SigCertValidation      = "exo-450-4.7.320-cert-validation"
	SigSubjectMismatch     = "exo-450-4.4.317-subject-mismatch"
	SigTenantInboundAttrib = "exo-550-5.7.51-tenant-inbound-attribution"
)

var catalog = []Signature{
	{ID: SigTargetHostTimeout, Code: 451, Enhanced: "4.4.395", Catalog: []string{"A", "B"}, Connection: true,
		Summary: "451 4.4.395 wrapping 421 4.4.1 Connection timed out (the shape of the seed incident: Exchange reports a TLS handshake that failed locally as a timeout)"},
	{ID: SigConnectionTimedOut, Code: 421, Enhanced: "4.4.1", Text: "Connection timed out", Catalog: []string{"A", "B"}, Connection: true,
		Summary: "421 4.4.1 Connection timed out"},
	{ID: SigUnableToConnect, Code: 421, Enhanced: "4.2.1", Text: "Unable to connect", Catalog: []string{"A", "B"}, Connection: true,
		Summary: "421 4.2.1 Unable to connect"},
	{ID: SigCertNotFound, Code: 454, Enhanced: "4.7.5", Catalog: []string{"C"}, TLS: true,
		Summary: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."},
	{ID: SigMustIssueStartTLS, Code: 451, Enhanced: "5.7.3", Text: "Must issue a STARTTLS command first", Catalog: []string{"G"}, TLS: true,
		Summary: "451 5.7.3 Must issue a STARTTLS command first"},
	{ID: SigStartTLSRequired, Code: 451, Enhanced: "5.7.3", Text: "STARTTLS is required to send mail", Catalog: []string{"I"}, TLS: true,
		Summary: "451 5.7.3 STARTTLS is required to send mail"},
	{ID: SigSocketErrorDrop, Code: 421, Enhanced: "4.4.2", Text: "Connection dropped due to SocketError", Catalog: []string{"G"}, TLS: true, Connection: true,
		Summary: "421 4.4.2 Connection dropped due to SocketError"},
	{ID: SigCertValidation, Code: 450, Enhanced: "4.7.320", Text: "Certificate validation failed", Catalog: []string{"E", "H"}, TLS: true,
		Summary: "450 4.7.320 Certificate validation failed"},
	{ID: SigSubjectMismatch, Code: 450, Enhanced: "4.4.317", Catalog: []string{"E", "H"}, TLS: true,
		Summary: "450 4.4.317 certificate subject mismatch"},
	{ID: SigTenantInboundAttrib, Code: 550, Enhanced: "5.7.51", Text: "TenantInboundAttribution", Catalog: []string{"F", "H"}, TLS: true,
		Summary: "550 5.7.51 TenantInboundAttribution"},
}

// Signatures returns a copy of the catalog.
func Signatures() []Signature {
	out := make([]Signature, len(catalog))
	copy(out, catalog)
	for i := range out {
		out[i].Catalog = append([]string(nil), out[i].Catalog...)
	}
	return out
}

// Match is one matched signature and the reply that matched it.
type Match struct {
	Signature Signature `json:"signature"`
	Reply     Reply     `json:"reply"`
}

// Classification is the result of Classify.
type Classification struct {
	Matches    []Match `json:"matches,omitempty"`
	TLS        bool    `json:"tls"`        // some matched signature is TLS-related
	Connection bool    `json:"connection"` // some matched signature is a connection failure
}

// Matched reports whether the signature with this ID matched.
func (c Classification) Matched(id string) bool {
	for _, m := range c.Matches {
		if m.Signature.ID == id {
			return true
		}
	}
	return false
}

// Classify matches every reply in e's cause chain (leading and embedded)
// against the catalog. SigTargetHostTimeout needs 451 4.4.395 together
// with 421 4.4.1 "Connection timed out" in the same LastError (the seed
// incident's exact shape); each signature is reported at most once.
func Classify(e *LastError) Classification {
	var c Classification
	if e == nil {
		return c
	}
	replies := e.Replies()
	has := func(sig Signature) (Reply, bool) {
		for _, r := range replies {
			if r.Code == sig.Code && r.Enhanced == sig.Enhanced &&
				(sig.Text == "" || containsFold(r.Text, sig.Text)) {
				return r, true
			}
		}
		return Reply{}, false
	}
	for _, sig := range catalog {
		r, ok := has(sig)
		if !ok {
			continue
		}
		if sig.ID == SigTargetHostTimeout {
			if _, inner := has(catalog[1]); !inner {
				continue
			}
		}
		c.Matches = append(c.Matches, Match{Signature: sig, Reply: r})
		c.TLS = c.TLS || sig.TLS
		c.Connection = c.Connection || sig.Connection
	}
	return c
}

// ClassifyText parses and classifies a LastError string.
func ClassifyText(s string) Classification { return Classify(ParseLastError(s)) }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
