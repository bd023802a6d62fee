package exchange

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/certstore"
)

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
	// NameInvalid: TlsCertificateName is malformed.
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
		{f.NotFound, "NotFound"}, {f.NameInvalid, "NameInvalid"}, {f.NoTLSCertName, "NoTLSCertName"},
		{f.FellBackToSelfSigned, "FellBackToSelfSigned"}, {f.SelectedExpired, "SelectedExpired"},
		{f.WildcardMatch, "WildcardMatch"}, {f.StartTLSNotAdvertised, "StartTLSNotAdvertised"},
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
	StoreIndex    int       `json:"storeIndex"`
	Subject       string    `json:"subject"` // Windows DN spelling
	Issuer        string    `json:"issuer"`
	NotBefore     time.Time `json:"notBefore"`
	NotAfter      time.Time `json:"notAfter"`
	SelfSigned    bool      `json:"selfSigned"`
	HasPrivateKey bool      `json:"hasPrivateKey"`
	Key           string    `json:"key"` // certstore.KeyStatus
	// Match: "tls-name", "exact", "wildcard" or "thumbprint".
	Match string `json:"match"`
	// Eligible: passes the rule's filters (X.509 v3, usable readable key) for
	// rules that filter; always true for first-match / latest-expiring.
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"` // why not eligible
}

// RuleChoice is the certificate one rule would select.
type RuleChoice struct {
	Rule       Rule   `json:"rule"`
	Thumbprint string `json:"thumbprint"`
}

// Selection is the simulated certificate choice for one connector.
type Selection struct {
	Connector string        `json:"connector"`
	Kind      ConnectorKind `json:"kind"`
	Basis     LookupBasis   `json:"basis"`
	// LookupName is the FQDN, the TlsCertificateName, or the thumbprint looked up.
	LookupName string `json:"lookupName,omitempty"`
	Issuer     string `json:"issuer,omitempty"`  // from TlsCertificateName
	Subject    string `json:"subject,omitempty"` // from TlsCertificateName
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
	ByRule      []RuleChoice `json:"byRule,omitempty"`
	Flags       Flags        `json:"flags"`
	Explanation string       `json:"explanation"`
}

// CandidateThumbprints returns the candidates' thumbprints in store order.
func (s Selection) CandidateThumbprints() []string {
	out := make([]string, 0, len(s.Candidates))
	for _, c := range s.Candidates {
		out = append(out, c.Thumbprint)
	}
	return out
}

// FindingCodes maps the flags to the connector finding codes of
// docs/findings.md (certificate-level codes such as CERT_EXPIRED are left to
// the certificate rules). Sorted, de-duplicated.
func (s Selection) FindingCodes() []string {
	var out []string
	f := s.Flags
	if s.Kind != KindInternalTransport {
		if f.NameInvalid {
			out = append(out, "CONNECTOR_TLS_NAME_INVALID")
		}
		if f.NotFound && s.Basis == BasisTLSName && !f.NameInvalid {
			out = append(out, "CONNECTOR_CERT_NOT_FOUND")
		}
		if f.Ambiguous {
			out = append(out, "CONNECTOR_CERT_AMBIGUOUS")
		}
		if f.SelectedKeyless || f.SelectedKeyUnreadable {
			out = append(out, "CONNECTOR_SELECTS_KEYLESS_CERT")
		}
	}
	sort.Strings(out)
	return out
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
// enumeration order (certstore.Inventory.Certificates is). The result is
// ordered by kind (send, receive, internal-transport) then connector name.
func SimulateSelection(inv *Inventory, certs []certstore.Certificate, opts SelectOptions) ([]Selection, error) {
	if inv == nil {
		return nil, fmt.Errorf("%w: nil inventory", ErrInvalidInventory)
	}
	var out []Selection
	serverFqdn := inv.Server.Fqdn
	for _, c := range inv.SendConnectors {
		if !c.Enabled || !isLocalServer(inv.Server, c.SourceTransportServers) {
			continue
		}
		out = append(out, SelectSend(c, serverFqdn, certs, opts))
	}
	for _, c := range inv.ReceiveConnectors {
		if !c.Enabled || (c.Server != "" && !isLocalServer(inv.Server, []string{c.Server})) {
			continue
		}
		out = append(out, SelectReceive(c, serverFqdn, certs, opts))
	}
	ts := inv.TransportService
	if ts.Name != "" || ts.InternalTransportCertificateThumbprint != "" {
		out = append(out, SelectInternalTransport(ts.InternalTransportCertificateThumbprint, certs, opts))
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

// certFacts is what the rules need to know about one store entry.
type certFacts struct {
	idx        int
	c          certstore.Certificate
	thumb      string
	selfSigned bool
	key        keyVerdict
	keyReason  string
}

type keyVerdict int

const (
	keyOK         keyVerdict = iota // usable (or unknown but present)
	keyMissing                      // no private key
	keyUnusable                     // referenced but cannot be used
	keyUnreadable                   // usable, but NETWORK SERVICE may not read it
)

func judgeKey(c certstore.Certificate) (keyVerdict, string) {
	switch {
	case c.Key == certstore.KeyAbsent, c.Key == certstore.KeyUnknown && !c.HasPrivateKey:
		return keyMissing, "no private key"
	case c.Key == certstore.KeyUnusable:
		if c.KeyDetail != "" {
			return keyUnusable, "private key unusable: " + c.KeyDetail
		}
		return keyUnusable, "private key unusable"
	case c.TransportCanReadKey != nil && !*c.TransportCanReadKey:
		return keyUnreadable, "the transport account (NETWORK SERVICE) cannot read the private key"
	}
	return keyOK, ""
}

func factsOf(certs []certstore.Certificate) []certFacts {
	out := make([]certFacts, 0, len(certs))
	for i, c := range certs {
		if c.Cert == nil {
			continue
		}
		k, why := judgeKey(c)
		out = append(out, certFacts{
			idx: i, c: c, thumb: strings.ToUpper(strings.TrimSpace(c.Thumbprint)),
			selfSigned: isSelfSigned(c.Cert), key: k, keyReason: why,
		})
	}
	return out
}

// isSelfSigned: issuer equals subject and the signature verifies with the
// certificate's own key (or the key identifiers agree when the signature
// algorithm is not verifiable here).
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) && !IssuerDN(c).Equal(SubjectDN(c)) {
		return false
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err == nil {
		return true
	}
	return len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
}

func (f certFacts) candidate(match string) Candidate {
	c := f.c
	return Candidate{
		Thumbprint:    f.thumb,
		StoreIndex:    f.idx,
		Subject:       WindowsDN(rdnSeq(c.Cert.RawSubject, c.Cert.Subject)),
		Issuer:        WindowsDN(rdnSeq(c.Cert.RawIssuer, c.Cert.Issuer)),
		NotBefore:     c.Cert.NotBefore.UTC(),
		NotAfter:      c.Cert.NotAfter.UTC(),
		SelfSigned:    f.selfSigned,
		HasPrivateKey: c.HasPrivateKey,
		Key:           c.Key.String(),
		Match:         match,
		Eligible:      true,
	}
}

// eligibility applies the receive-side filters: X.509 v3, private key present,
// usable and readable by the transport account.
func (f certFacts) eligibility() (bool, string) {
	if f.c.Cert.Version != 3 {
		return false, fmt.Sprintf("not X.509 v3 (version %d)", f.c.Cert.Version)
	}
	if f.key != keyOK {
		return false, f.keyReason
	}
	return true, ""
}

func (f certFacts) expired(now time.Time) bool { return now.After(f.c.Cert.NotAfter) }

func applySelectedKey(s *Selection, f certFacts) {
	switch f.key {
	case keyMissing, keyUnusable:
		s.Flags.SelectedKeyless = true
	case keyUnreadable:
		s.Flags.SelectedKeyUnreadable = true
	}
}

// SelectSend simulates the certificate a send connector presents.
// serverFqdn is used when the connector has neither TlsCertificateName nor Fqdn.
func SelectSend(c SendConnector, serverFqdn string, certs []certstore.Certificate, opts SelectOptions) Selection {
	s := Selection{Connector: c.Name, Kind: KindSend, Candidates: []Candidate{}}
	if strings.TrimSpace(c.TlsCertificateName) != "" {
		selectByTLSNameFirstMatch(&s, c.TlsCertificateName, factsOf(certs), opts.now())
		return s
	}
	s.Flags.NoTLSCertName = true
	selectByHostName(&s, c.Fqdn, serverFqdn, factsOf(certs), opts.now())
	return s
}

// SelectReceive simulates the certificate a receive connector offers with STARTTLS.
func SelectReceive(c ReceiveConnector, serverFqdn string, certs []certstore.Certificate, opts SelectOptions) Selection {
	s := Selection{Connector: c.Name, Kind: KindReceive, Candidates: []Candidate{}}
	facts := factsOf(certs)
	now := opts.now()
	if strings.TrimSpace(c.TlsCertificateName) != "" {
		name, ok := beginTLSName(&s, c.TlsCertificateName)
		if !ok {
			s.Flags.StartTLSNotAdvertised = true
			return s
		}
		var matched []certFacts
		for _, f := range facts {
			m, subOK := name.Matches(f.c.Cert)
			if m {
				matched = append(matched, f)
			} else if subOK {
				s.SubjectOnlyMatches = append(s.SubjectOnlyMatches, f.thumb)
			}
		}
		s.Flags.Ambiguous = len(matched) > 1
		rankEligible(&s, matched, string(BasisTLSName), now)
		s.Explanation = explainReceive(s)
		return s
	}
	s.Flags.NoTLSCertName = true
	selectByHostName(&s, c.Fqdn, serverFqdn, facts, now)
	return s
}

// SelectInternalTransport simulates loading InternalTransportCertificateThumbprint.
func SelectInternalTransport(thumbprint string, certs []certstore.Certificate, opts SelectOptions) Selection {
	now := opts.now()
	tp, err := normalizeThumbprint(thumbprint)
	s := Selection{Connector: InternalTransportName, Kind: KindInternalTransport, Basis: BasisThumbprint, LookupName: tp, Candidates: []Candidate{}}
	if err != nil || tp == "" {
		s.Flags.NotFound = true
		if err != nil {
			s.LookupName = thumbprint
			s.Explanation = fmt.Sprintf("InternalTransportCertificateThumbprint %q is not a thumbprint; anonymous TLS between Exchange servers cannot load a certificate (events 12012/12013/12024).", thumbprint)
		} else {
			s.Explanation = "No InternalTransportCertificateThumbprint is configured; anonymous TLS between Exchange servers has no certificate (events 12012/12013/12024)."
		}
		return s
	}
	for _, f := range factsOf(certs) {
		if f.thumb != tp {
			continue
		}
		cand := f.candidate(string(BasisThumbprint))
		if ok, why := f.eligibility(); !ok {
			cand.Eligible, cand.Reason = false, why
		}
		s.Candidates = append(s.Candidates, cand)
		if s.Selected == "" {
			s.Selected, s.Rule = f.thumb, RuleThumbprint
			applySelectedKey(&s, f)
			s.Flags.SelectedExpired = f.expired(now)
		}
	}
	switch {
	case s.Selected == "":
		s.Flags.NotFound = true
		s.Explanation = fmt.Sprintf("The internal transport certificate %s is not in the store; anonymous TLS between Exchange servers fails (events 12012/12013/12024).", tp)
	case s.Flags.SelectedKeyless:
		s.Explanation = fmt.Sprintf("The internal transport certificate %s is in the store but %s; transport cannot load it (events 12012/12013/12024).", tp, s.Candidates[0].Reason)
	case s.Flags.SelectedKeyUnreadable:
		s.Explanation = fmt.Sprintf("The internal transport certificate %s is in the store but %s.", tp, s.Candidates[0].Reason)
	case s.Flags.SelectedExpired:
		s.Explanation = fmt.Sprintf("The internal transport certificate %s expired on %s (event 12015).", tp, s.Candidates[0].NotAfter.Format(time.DateOnly))
	default:
		s.Explanation = fmt.Sprintf("The internal transport certificate %s is in the store with a usable private key.", tp)
	}
	return s
}

// beginTLSName parses the connector's TlsCertificateName into s; false when malformed.
func beginTLSName(s *Selection, raw string) (TLSCertificateName, bool) {
	s.Basis = BasisTLSName
	s.LookupName = strings.TrimSpace(raw)
	name, err := ParseTLSCertificateName(raw)
	if err != nil {
		s.Flags.NameInvalid = true
		s.Flags.NotFound = true
		s.Explanation = fmt.Sprintf("%s connector %q: TlsCertificateName is malformed (%v); no certificate can match it.", s.Kind, s.Connector, err)
		return name, false
	}
	s.Issuer, s.Subject = name.Issuer, name.Subject
	return name, true
}

// selectByTLSNameFirstMatch implements the send-side TlsCertificateName lookup.
func selectByTLSNameFirstMatch(s *Selection, raw string, facts []certFacts, now time.Time) {
	name, ok := beginTLSName(s, raw)
	if !ok {
		return
	}
	var matched []certFacts
	for _, f := range facts {
		m, subOK := name.Matches(f.c.Cert)
		if m {
			matched = append(matched, f)
			s.Candidates = append(s.Candidates, f.candidate(string(BasisTLSName)))
		} else if subOK {
			s.SubjectOnlyMatches = append(s.SubjectOnlyMatches, f.thumb)
		}
	}
	if len(matched) == 0 {
		s.Flags.NotFound = true
		s.Explanation = explainSendTLSName(*s, nil, nil)
		return
	}
	first := matched[0]
	latest := matched[0]
	for _, f := range matched[1:] {
		if f.c.Cert.NotAfter.After(latest.c.Cert.NotAfter) {
			latest = f
		}
	}
	s.Selected, s.Rule = first.thumb, RuleFirstMatch
	s.ByRule = []RuleChoice{{RuleFirstMatch, first.thumb}, {RuleLatestExpiring, latest.thumb}}
	s.Flags.Ambiguous = len(matched) > 1
	s.Flags.RulesDisagree = first.thumb != latest.thumb
	for _, f := range []certFacts{first, latest} {
		applySelectedKey(s, f)
		if f.expired(now) {
			s.Flags.SelectedExpired = true
		}
	}
	s.Explanation = explainSendTLSName(*s, &first, &latest)
}

// selectByHostName implements the FQDN-based lookup shared by send connectors
// without TlsCertificateName and receive connectors: name = connector Fqdn,
// else server FQDN; exact matches first, then wildcard; eligible = v3 with a
// usable, readable key; newest NotBefore; CA-issued before self-signed.
func selectByHostName(s *Selection, connFqdn, serverFqdn string, facts []certFacts, now time.Time) {
	host := normalizeHost(connFqdn)
	s.Basis = BasisFqdn
	if host == "" {
		host, s.Basis = normalizeHost(serverFqdn), BasisServerFqdn
	}
	if host == "" {
		s.Basis = BasisNone
		s.Flags.NotFound = true
		if s.Kind == KindReceive {
			s.Flags.StartTLSNotAdvertised = true
		}
		s.Explanation = fmt.Sprintf("%s connector %q has no TlsCertificateName and no Fqdn, and the server FQDN is unknown: nothing to look a certificate up by.", s.Kind, s.Connector)
		return
	}
	s.LookupName = host
	var exact, wild []certFacts
	for _, f := range facts {
		switch MatchCertificateName(f.c.Cert, host) {
		case NameExact:
			exact = append(exact, f)
		case NameWildcard:
			wild = append(wild, f)
		}
	}
	// Candidates in store order, exact and wildcard together.
	all := append(append([]certFacts(nil), exact...), wild...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].idx < all[j].idx })
	for _, f := range all {
		m := string(NameWildcard)
		if MatchCertificateName(f.c.Cert, host) == NameExact {
			m = string(NameExact)
		}
		cand := f.candidate(m)
		if ok, why := f.eligibility(); !ok {
			cand.Eligible, cand.Reason = false, why
		}
		s.Candidates = append(s.Candidates, cand)
	}
	pool := eligibleOnly(exact)
	if len(pool) == 0 {
		pool = eligibleOnly(wild)
		if len(pool) > 0 {
			s.Flags.WildcardMatch = true
		}
	}
	pick(s, pool, now)
	if s.Kind == KindReceive {
		s.Flags.StartTLSNotAdvertised = s.Selected == ""
		s.Explanation = explainReceive(*s)
	} else {
		s.Explanation = explainSendHost(*s)
	}
}

func eligibleOnly(in []certFacts) []certFacts {
	var out []certFacts
	for _, f := range in {
		if ok, _ := f.eligibility(); ok {
			out = append(out, f)
		}
	}
	return out
}

// rankEligible fills candidates from matched (with eligibility) and picks.
func rankEligible(s *Selection, matched []certFacts, match string, now time.Time) {
	for _, f := range matched {
		cand := f.candidate(match)
		if ok, why := f.eligibility(); !ok {
			cand.Eligible, cand.Reason = false, why
		}
		s.Candidates = append(s.Candidates, cand)
	}
	pick(s, eligibleOnly(matched), now)
	if s.Kind == KindReceive {
		s.Flags.StartTLSNotAdvertised = s.Selected == ""
	}
}

// pick: newest NotBefore first (ties: store order); first CA-issued wins,
// else first self-signed.
func pick(s *Selection, pool []certFacts, now time.Time) {
	if len(pool) == 0 {
		s.Flags.NotFound = true
		return
	}
	ranked := append([]certFacts(nil), pool...)
	sort.SliceStable(ranked, func(i, j int) bool {
		a, b := ranked[i].c.Cert.NotBefore, ranked[j].c.Cert.NotBefore
		if !a.Equal(b) {
			return a.After(b)
		}
		return ranked[i].idx < ranked[j].idx
	})
	var chosen *certFacts
	rule := RuleNewestCAIssued
	for i := range ranked {
		if !ranked[i].selfSigned {
			chosen = &ranked[i]
			break
		}
	}
	if chosen == nil {
		chosen, rule = &ranked[0], RuleNewestSelfSigned
		s.Flags.FellBackToSelfSigned = true
	}
	s.Selected, s.Rule = chosen.thumb, rule
	s.ByRule = []RuleChoice{{rule, chosen.thumb}}
	applySelectedKey(s, *chosen)
	s.Flags.SelectedExpired = chosen.expired(now)
}

func (s Selection) candidateByThumb(tp string) *Candidate {
	for i := range s.Candidates {
		if s.Candidates[i].Thumbprint == tp {
			return &s.Candidates[i]
		}
	}
	return nil
}

func describeCand(c *Candidate) string {
	if c == nil {
		return "(none)"
	}
	desc := fmt.Sprintf("%s (store position %d, NotBefore %s, NotAfter %s, %s", c.Thumbprint, c.StoreIndex+1,
		c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), keyPhrase(c))
	if c.SelfSigned {
		desc += ", self-signed"
	}
	return desc + ")"
}

func keyPhrase(c *Candidate) string {
	if c.Reason != "" {
		return c.Reason
	}
	switch c.Key {
	case certstore.KeyUsable.String():
		return "usable private key"
	case certstore.KeyAbsent.String():
		return "NO private key"
	case certstore.KeyUnusable.String():
		return "private key UNUSABLE"
	}
	if c.HasPrivateKey {
		return "private key present, usability unknown"
	}
	return "NO private key"
}

func explainSendTLSName(s Selection, first, latest *certFacts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Send connector %q looks its certificate up by TlsCertificateName (issuer %q, subject %q). ", s.Connector, s.Issuer, s.Subject)
	if first == nil {
		b.WriteString("No certificate in the store matches: transport answers 454 4.7.5 and logs event 12014.")
		if n := len(s.SubjectOnlyMatches); n > 0 {
			fmt.Fprintf(&b, " %d certificate(s) (%s) match the subject but have a different issuer: the certificate was probably renewed through another CA; update TlsCertificateName.", n, strings.Join(s.SubjectOnlyMatches, ", "))
		}
		return b.String()
	}
	fc := s.candidateByThumb(first.thumb)
	if len(s.Candidates) == 1 {
		fmt.Fprintf(&b, "One certificate matches: %s.", describeCand(fc))
	} else {
		fmt.Fprintf(&b, "%d certificates match (ambiguous). Older builds take the first in store order without checking the key: %s. ", len(s.Candidates), describeCand(fc))
		if first.thumb == latest.thumb {
			b.WriteString("The latest-expiring rule picks the same certificate.")
		} else {
			fmt.Fprintf(&b, "Under the latest-expiring rule it would be %s.", describeCand(s.candidateByThumb(latest.thumb)))
		}
	}
	if s.Flags.SelectedKeyless {
		b.WriteString(" A selected certificate has no usable private key: STARTTLS fails with NoCredentials (KB4495258); remove it by thumbprint and restart MSExchangeTransport.")
	}
	if s.Flags.SelectedKeyUnreadable {
		b.WriteString(" A selected certificate's key is not readable by NETWORK SERVICE: expect UnknownCredentials; run Enable-ExchangeCertificate -Services SMTP.")
	}
	if s.Flags.SelectedExpired {
		b.WriteString(" A selected certificate is expired.")
	}
	return b.String()
}

func basisPhrase(s Selection) string {
	switch s.Basis {
	case BasisFqdn:
		return fmt.Sprintf("its Fqdn %q", s.LookupName)
	case BasisServerFqdn:
		return fmt.Sprintf("the server FQDN %q (the connector has no Fqdn)", s.LookupName)
	case BasisTLSName:
		return fmt.Sprintf("TlsCertificateName (issuer %q, subject %q)", s.Issuer, s.Subject)
	}
	return "nothing"
}

func explainChoice(b *strings.Builder, s Selection) {
	sel := s.candidateByThumb(s.Selected)
	fmt.Fprintf(b, "Selected %s by rule %s", describeCand(sel), s.Rule)
	if s.Flags.WildcardMatch {
		b.WriteString(", through a wildcard name")
	}
	b.WriteString(".")
	if s.Flags.FellBackToSelfSigned {
		b.WriteString(" No CA-issued certificate is eligible, so the self-signed one is used: Exchange Online rejects it (SubjectMismatch, 4.7.320/4.4.317).")
	}
	if s.Flags.SelectedExpired && sel != nil {
		fmt.Fprintf(b, " The selected certificate expired on %s", sel.NotAfter.Format(time.DateOnly))
		if s.Kind == KindReceive {
			b.WriteString(" but STARTTLS is still advertised with it (event 12016)")
		}
		b.WriteString(".")
	}
	if n := ineligibleCount(s); n > 0 {
		fmt.Fprintf(b, " %d matching certificate(s) were not eligible (see candidates).", n)
	}
}

func ineligibleCount(s Selection) int {
	n := 0
	for _, c := range s.Candidates {
		if !c.Eligible {
			n++
		}
	}
	return n
}

func explainSendHost(s Selection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Send connector %q has no TlsCertificateName; transport looks its certificate up by %s. ", s.Connector, basisPhrase(s))
	if s.Selected == "" {
		if len(s.Candidates) == 0 {
			b.WriteString("No certificate names it in CN or SAN: no client certificate is presented (mutual TLS with Exchange Online fails).")
		} else {
			fmt.Fprintf(&b, "%d certificate(s) name it but none is eligible (X.509 v3 with a usable private key): no client certificate is presented.", len(s.Candidates))
		}
		return b.String()
	}
	explainChoice(&b, s)
	return b.String()
}

func explainReceive(s Selection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Receive connector %q looks its STARTTLS certificate up by %s. ", s.Connector, basisPhrase(s))
	if s.Flags.Ambiguous {
		fmt.Fprintf(&b, "%d certificates match the TlsCertificateName (ambiguous). ", len(s.Candidates))
	}
	if s.Selected == "" {
		if len(s.Candidates) == 0 {
			b.WriteString("No certificate matches")
		} else {
			fmt.Fprintf(&b, "%d certificate(s) match but none is eligible (X.509 v3 with a usable private key readable by NETWORK SERVICE)", len(s.Candidates))
		}
		b.WriteString(": STARTTLS is not advertised and event 12014 is logged.")
		if n := len(s.SubjectOnlyMatches); n > 0 {
			fmt.Fprintf(&b, " %d certificate(s) (%s) match the subject with a different issuer.", n, strings.Join(s.SubjectOnlyMatches, ", "))
		}
		return b.String()
	}
	explainChoice(&b, s)
	return b.String()
}
