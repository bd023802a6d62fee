package exchange

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// This file holds the selection model and the simulation over a server's
// connectors; selection_rules.go holds the rules that pick one certificate.
// A Selection is data: typed conditions (Flags, Candidate.Key,
// Candidate.Ineligible), never prose or finding codes. Package certdiag
// turns it into findings and text; the renewal pre-flight (internal/preflight)
// reuses it as is.

// ConnectorKind says what a Selection is about.
type ConnectorKind string

// Kinds of selection.
const (
	KindSend              ConnectorKind = "send"
	KindReceive           ConnectorKind = "receive"
	KindInternalTransport ConnectorKind = "internal-transport"
)

// InternalTransportName is the Connector value of the internal transport
// certificate's Selection.
const InternalTransportName = "InternalTransportCertificate"

// LookupBasis says what the certificate was looked up by.
type LookupBasis string

// Lookup bases, in Exchange's order of preference.
const (
	BasisTLSName    LookupBasis = "tls-name"    // the connector's TlsCertificateName
	BasisFqdn       LookupBasis = "fqdn"        // the connector's Fqdn
	BasisServerFqdn LookupBasis = "server-fqdn" // the server's FQDN
	BasisThumbprint LookupBasis = "thumbprint"  // InternalTransportCertificateThumbprint
	BasisNone       LookupBasis = ""            // nothing to look up by
)

// Rule names the selection rule that produced a choice.
type Rule string

// Selection rules (see doc.go for their sources).
const (
	// RuleFirstMatch: first issuer+subject match in store enumeration order,
	// key not checked (send connectors with TlsCertificateName, older builds).
	RuleFirstMatch Rule = "first-match"
	// RuleLatestExpiring: the issuer+subject match with the latest NotAfter
	// (Microsoft's 2025 guidance).
	RuleLatestExpiring Rule = "latest-expiring"
	// RuleNewestCAIssued: newest NotBefore among eligible CA-issued certificates.
	RuleNewestCAIssued Rule = "newest-ca-issued"
	// RuleNewestSelfSigned: newest NotBefore among eligible self-signed
	// certificates, used only when no CA-issued one is eligible.
	RuleNewestSelfSigned Rule = "newest-self-signed"
	// RuleThumbprint: looked up by thumbprint.
	RuleThumbprint Rule = "thumbprint"
)

// KeyState is how the transport service can use a certificate's private
// key, judged from what the store reported.
type KeyState int

// Key states.
const (
	// KeyOK: usable, or present with usability unknown (benefit of the doubt).
	KeyOK KeyState = iota
	// KeyMissing: no private key (KB4495258: NoCredentials).
	KeyMissing
	// KeyUnusable: a key is referenced but cannot be acquired.
	KeyUnusable
	// KeyUnreadable: usable, but the transport account (NETWORK SERVICE) may
	// not read it (KB4051498: UnknownCredentials).
	KeyUnreadable
)

var keyStateNames = [...]string{KeyOK: "ok", KeyMissing: "missing", KeyUnusable: "unusable", KeyUnreadable: "unreadable-by-transport"}

func (k KeyState) String() string {
	if int(k) < len(keyStateNames) {
		return keyStateNames[k]
	}
	return fmt.Sprintf("KeyState(%d)", int(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k KeyState) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Usable reports KeyOK.
func (k KeyState) Usable() bool { return k == KeyOK }

// KeyStateOf judges one store entry. It is the one place that decides
// whether transport could use a certificate's key.
func KeyStateOf(c certstore.Certificate) KeyState {
	switch {
	case c.Key == certstore.KeyAbsent, c.Key == certstore.KeyUnknown && !c.HasPrivateKey:
		return KeyMissing
	case c.Key == certstore.KeyUnusable:
		return KeyUnusable
	case c.TransportCanReadKey != nil && !*c.TransportCanReadKey:
		return KeyUnreadable
	}
	return KeyOK
}

// Ineligibility says why a matching certificate was filtered out by a rule
// that filters (receive connectors, send connectors without
// TlsCertificateName, the internal transport certificate).
type Ineligibility string

// Reasons a candidate is not eligible.
const (
	// IneligibleNone: eligible.
	IneligibleNone Ineligibility = ""
	// IneligibleNotV3: not an X.509 v3 certificate.
	IneligibleNotV3 Ineligibility = "not-x509v3"
	// IneligibleKey: the private key is not usable by transport; see
	// Candidate.Key for which way.
	IneligibleKey Ineligibility = "key"
)

// Flags are the conditions a Selection found.
type Flags struct {
	// Ambiguous: more than one certificate matches the TlsCertificateName.
	Ambiguous bool `json:"ambiguous,omitempty"`
	// RulesDisagree: FirstMatch and LatestExpiring pick different certificates.
	RulesDisagree bool `json:"rulesDisagree,omitempty"`
	// SelectedKeyless: a selected certificate (under any rule) has no usable
	// private key (absent, or present but unusable).
	SelectedKeyless bool `json:"selectedKeyless,omitempty"`
	// SelectedKeyUnreadable: a selected certificate's key exists but the
	// transport account (NETWORK SERVICE) may not read it.
	SelectedKeyUnreadable bool `json:"selectedKeyUnreadable,omitempty"`
	// NotFound: nothing would be selected.
	NotFound bool `json:"notFound,omitempty"`
	// NoneEligible: certificates matched the lookup but a filtering rule
	// refused every one (Candidate.Ineligible says why); implies NotFound.
	NoneEligible bool `json:"noneEligible,omitempty"`
	// NameInvalid: TlsCertificateName is malformed (Selection.NameError says how).
	NameInvalid bool `json:"nameInvalid,omitempty"`
	// NoTLSCertName: the connector has no TlsCertificateName.
	NoTLSCertName bool `json:"noTlsCertName,omitempty"`
	// FellBackToSelfSigned: no CA-issued certificate was eligible and a
	// self-signed one was selected.
	FellBackToSelfSigned bool `json:"fellBackToSelfSigned,omitempty"`
	// SelectedExpired: a selected certificate is expired (receive: STARTTLS
	// is still advertised, event 12016; internal: event 12015).
	SelectedExpired bool `json:"selectedExpired,omitempty"`
	// WildcardMatch: the name matched only through a wildcard.
	WildcardMatch bool `json:"wildcardMatch,omitempty"`
	// StartTLSNotAdvertised: a receive connector would not offer STARTTLS
	// (no eligible certificate, event 12014).
	StartTLSNotAdvertised bool `json:"startTlsNotAdvertised,omitempty"`
	// ThumbprintInvalid: InternalTransportCertificateThumbprint is set but
	// is not a thumbprint.
	ThumbprintInvalid bool `json:"thumbprintInvalid,omitempty"`
	// NoLookupName: neither TlsCertificateName, Fqdn nor the server FQDN is
	// known, so there was nothing to look a certificate up by.
	NoLookupName bool `json:"noLookupName,omitempty"`
}

// Names lists the set flags by Go field name, in declaration order.
func (f Flags) Names() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.Ambiguous, "Ambiguous"}, {f.RulesDisagree, "RulesDisagree"},
		{f.SelectedKeyless, "SelectedKeyless"}, {f.SelectedKeyUnreadable, "SelectedKeyUnreadable"},
		{f.NotFound, "NotFound"}, {f.NoneEligible, "NoneEligible"}, {f.NameInvalid, "NameInvalid"}, {f.NoTLSCertName, "NoTLSCertName"},
		{f.FellBackToSelfSigned, "FellBackToSelfSigned"}, {f.SelectedExpired, "SelectedExpired"},
		{f.WildcardMatch, "WildcardMatch"}, {f.StartTLSNotAdvertised, "StartTLSNotAdvertised"},
		{f.ThumbprintInvalid, "ThumbprintInvalid"}, {f.NoLookupName, "NoLookupName"},
	} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// Candidate is a certificate that matched the lookup.
type Candidate struct {
	Thumbprint string `json:"thumbprint"`
	// StoreIndex is the certificate's position in store enumeration order.
	StoreIndex int       `json:"storeIndex"`
	Subject    string    `json:"subject"` // Windows DN spelling
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
	SelfSigned bool      `json:"selfSigned"`
	// Key is what transport can do with the private key; KeyDetail is the
	// store's one-line reason for an unusable key.
	Key       KeyState `json:"key"`
	KeyDetail string   `json:"keyDetail,omitempty"`
	// Version is the X.509 version (3 for every modern certificate).
	Version int `json:"version"`
	// Match: "tls-name", "exact", "wildcard" or "thumbprint".
	Match string `json:"match"`
	// Eligible: passes the rule's filters (X.509 v3, usable readable key) for
	// rules that filter; always true for first-match / latest-expiring.
	Eligible bool `json:"eligible"`
	// Ineligible says why not, when Eligible is false.
	Ineligible Ineligibility `json:"ineligible,omitempty"`
}

// RuleChoice is the certificate one rule would select.
type RuleChoice struct {
	Rule       Rule   `json:"rule"`
	Thumbprint string `json:"thumbprint"`
}

// Selection is the simulated certificate choice for one connector (or the
// internal transport certificate).
type Selection struct {
	Connector string        `json:"connector"`
	Kind      ConnectorKind `json:"kind"`
	Basis     LookupBasis   `json:"basis"`
	// LookupName is the FQDN, the TlsCertificateName, or the thumbprint looked up.
	LookupName string `json:"lookupName,omitempty"`
	Issuer     string `json:"issuer,omitempty"`  // from TlsCertificateName
	Subject    string `json:"subject,omitempty"` // from TlsCertificateName
	// NameError is why TlsCertificateName (or the internal transport
	// thumbprint) could not be parsed, when NameInvalid/ThumbprintInvalid.
	NameError string `json:"nameError,omitempty"`
	// Candidates in store enumeration order.
	Candidates []Candidate `json:"candidates"`
	// SubjectOnlyMatches: thumbprints whose subject matches TlsCertificateName
	// but whose issuer does not (renewed through another intermediate).
	SubjectOnlyMatches []string `json:"subjectOnlyMatches,omitempty"`
	// Selected is the thumbprint Exchange would present ("" when none) under Rule.
	Selected string `json:"selected,omitempty"`
	Rule     Rule   `json:"rule,omitempty"`
	// ByRule lists the choice of every applicable rule (send connectors with
	// TlsCertificateName: first-match then latest-expiring).
	ByRule []RuleChoice `json:"byRule,omitempty"`
	Flags  Flags        `json:"flags"`
}

// CandidateThumbprints returns the candidates' thumbprints in store order.
func (s Selection) CandidateThumbprints() []string {
	out := make([]string, 0, len(s.Candidates))
	for _, c := range s.Candidates {
		out = append(out, c.Thumbprint)
	}
	return out
}

// Candidate returns the candidate with thumbprint tp, or nil.
func (s Selection) Candidate(tp string) *Candidate {
	for i := range s.Candidates {
		if s.Candidates[i].Thumbprint == tp {
			return &s.Candidates[i]
		}
	}
	return nil
}

// Ineligible lists the candidates a filtering rule refused, in store order.
func (s Selection) Ineligible() []Candidate {
	var out []Candidate
	for _, c := range s.Candidates {
		if !c.Eligible {
			out = append(out, c)
		}
	}
	return out
}

// Choice returns the thumbprint chosen by rule r ("" when r did not apply).
func (s Selection) Choice(r Rule) string {
	for _, c := range s.ByRule {
		if c.Rule == r {
			return c.Thumbprint
		}
	}
	return ""
}

// SelectOptions tunes the simulation.
type SelectOptions struct {
	// Now is the time expiry is judged at; zero means time.Now().
	Now time.Time
}

func (o SelectOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// SimulateSelection simulates the certificate choice for every enabled send
// connector this server is a source of, every enabled receive connector of
// this server, and the internal transport certificate. certs must be in store
// enumeration order (certstore.Contents.Certificates is). The result is
// ordered by kind (send, receive, internal-transport) then connector name.
func SimulateSelection(cfg *Config, certs []certstore.Certificate, opts SelectOptions) ([]Selection, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil configuration", ErrInvalidConfig)
	}
	var out []Selection
	serverFqdn := cfg.Server.Fqdn
	facts, now := factsOf(certs), opts.now()
	for _, c := range cfg.SendConnectors {
		if !c.Enabled || !isLocalServer(cfg.Server, c.SourceTransportServers) {
			continue
		}
		out = append(out, selectSend(c, serverFqdn, facts, now))
	}
	for _, c := range cfg.ReceiveConnectors {
		if !c.Enabled || (c.Server != "" && !isLocalServer(cfg.Server, []string{c.Server})) {
			continue
		}
		out = append(out, selectReceive(c, serverFqdn, facts, now))
	}
	ts := cfg.TransportService
	if ts.Name != "" || ts.InternalTransportCertificateThumbprint != "" {
		out = append(out, selectInternalTransport(ts.InternalTransportCertificateThumbprint, facts, now))
	}
	kindOrder := map[ConnectorKind]int{KindSend: 0, KindReceive: 1, KindInternalTransport: 2}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if la, lb := strings.ToLower(a.Connector), strings.ToLower(b.Connector); la != lb {
			return la < lb
		}
		return a.Connector < b.Connector
	})
	return out, nil
}

// isLocalServer reports whether names (server names or FQDNs) include the
// local server; an empty list or an unnamed server counts as local.
func isLocalServer(s Server, names []string) bool {
	if len(names) == 0 || (s.Name == "" && s.Fqdn == "") {
		return true
	}
	short := strings.SplitN(s.Fqdn, ".", 2)[0]
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		nShort := strings.SplitN(n, ".", 2)[0]
		if strings.EqualFold(n, s.Name) || strings.EqualFold(n, s.Fqdn) ||
			(short != "" && strings.EqualFold(nShort, short)) || strings.EqualFold(nShort, s.Name) {
			return true
		}
	}
	return false
}
