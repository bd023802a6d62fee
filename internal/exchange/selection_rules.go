package exchange

import (
	"bytes"
	"crypto/x509"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// The rules Exchange transport uses to pick a certificate (doc.go, "Selection
// rules", gives their sources). Each Select* function fills a Selection with
// candidates, choices and flags; none writes prose.

// certFacts is what the rules need to know about one store entry.
type certFacts struct {
	idx        int
	c          certstore.Certificate
	thumb      string
	selfSigned bool
	key        KeyState
}

func factsOf(certs []certstore.Certificate) []certFacts {
	out := make([]certFacts, 0, len(certs))
	for i, c := range certs {
		if c.Cert == nil {
			continue
		}
		out = append(out, certFacts{idx: i, c: c, thumb: thumbprint.Normalize(c.Thumbprint), selfSigned: IsSelfSigned(c.Cert), key: KeyStateOf(c)})
	}
	return out
}

// IsSelfSigned is mxprobe's one rule for "self-signed" (store analysis,
// connector selection, live probes, revocation checks): the issuer name
// equals the subject name (byte for byte, or as DNs that differ only in
// encoding) and the signature verifies with the certificate's own key. When
// the signature cannot be verified here (an algorithm crypto/x509 refuses,
// such as MD5), the authority key identifier decides: absent, or equal to
// the subject key identifier. A same-named certificate signed by another
// key (a CA's key rollover) is not self-signed: its issuer is missing.
// Unlike CheckSignatureFrom, a self-signed leaf (Exchange's default
// CN=<server> certificate, no CA flag) counts.
func IsSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) && !IssuerDN(c).Equal(SubjectDN(c)) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	switch {
	case err == nil:
		return true
	case errors.As(err, &insecure) || errors.Is(err, x509.ErrUnsupportedAlgorithm):
		// Not verifiable here: the key identifiers are the evidence left.
		return len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
	}
	// Verifiable and wrong: another key signed it.
	return false
}

func (f certFacts) candidate(match string) Candidate {
	c := f.c
	cand := Candidate{
		Thumbprint: f.thumb,
		StoreIndex: f.idx,
		Subject:    WindowsDN(rdnSeq(c.Cert.RawSubject, c.Cert.Subject)),
		Issuer:     WindowsDN(rdnSeq(c.Cert.RawIssuer, c.Cert.Issuer)),
		NotBefore:  c.Cert.NotBefore.UTC(),
		NotAfter:   c.Cert.NotAfter.UTC(),
		SelfSigned: f.selfSigned,
		Key:        f.key,
		Version:    c.Cert.Version,
		Match:      match,
		Eligible:   true,
	}
	if f.key == KeyUnusable {
		cand.KeyDetail = c.KeyDetail
	}
	return cand
}

// filtered is the candidate with the filtering rules' verdict applied.
func (f certFacts) filtered(match string) Candidate {
	cand := f.candidate(match)
	if why := f.ineligibility(); why != IneligibleNone {
		cand.Eligible, cand.Ineligible = false, why
	}
	return cand
}

// ineligibility applies the receive-side filters: X.509 v3, private key
// present, usable and readable by the transport account.
func (f certFacts) ineligibility() Ineligibility {
	switch {
	case f.c.Cert.Version != 3:
		return IneligibleNotV3
	case f.key != KeyOK:
		return IneligibleKey
	}
	return IneligibleNone
}

func (f certFacts) expired(now time.Time) bool { return now.After(f.c.Cert.NotAfter) }

func applySelectedKey(s *Selection, f certFacts) {
	switch f.key {
	case KeyMissing, KeyUnusable:
		s.Flags.SelectedKeyless = true
	case KeyUnreadable:
		s.Flags.SelectedKeyUnreadable = true
	}
}

// SelectSend simulates the certificate a send connector presents.
// serverFqdn is used when the connector has neither TlsCertificateName nor Fqdn.
func SelectSend(c SendConnector, serverFqdn string, certs []certstore.Certificate, opts SelectOptions) Selection {
	return selectSend(c, serverFqdn, factsOf(certs), opts.now())
}

// selectSend is SelectSend over the store's facts (computed once per
// simulation: they verify self-signatures).
func selectSend(c SendConnector, serverFqdn string, facts []certFacts, now time.Time) Selection {
	s := Selection{Connector: c.Name, Kind: KindSend, Candidates: []Candidate{}}
	if strings.TrimSpace(c.TlsCertificateName) != "" {
		selectByTLSNameFirstMatch(&s, c.TlsCertificateName, facts, now)
		return s
	}
	s.Flags.NoTLSCertName = true
	selectByHostName(&s, c.Fqdn, serverFqdn, facts, now)
	return s
}

// SelectReceive simulates the certificate a receive connector offers with STARTTLS.
func SelectReceive(c ReceiveConnector, serverFqdn string, certs []certstore.Certificate, opts SelectOptions) Selection {
	return selectReceive(c, serverFqdn, factsOf(certs), opts.now())
}

// selectReceive is SelectReceive over the store's facts.
func selectReceive(c ReceiveConnector, serverFqdn string, facts []certFacts, now time.Time) Selection {
	s := Selection{Connector: c.Name, Kind: KindReceive, Candidates: []Candidate{}}
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
		for _, f := range matched {
			s.Candidates = append(s.Candidates, f.filtered(string(BasisTLSName)))
		}
		pick(&s, eligibleOnly(matched), now)
		s.Flags.NoneEligible = s.Selected == "" && len(matched) > 0
		s.Flags.StartTLSNotAdvertised = s.Selected == ""
		return s
	}
	s.Flags.NoTLSCertName = true
	selectByHostName(&s, c.Fqdn, serverFqdn, facts, now)
	return s
}

// SelectInternalTransport simulates loading InternalTransportCertificateThumbprint.
func SelectInternalTransport(configured string, certs []certstore.Certificate, opts SelectOptions) Selection {
	return selectInternalTransport(configured, factsOf(certs), opts.now())
}

// selectInternalTransport is SelectInternalTransport over the store's facts.
func selectInternalTransport(configured string, facts []certFacts, now time.Time) Selection {
	tp, err := configThumbprint(configured)
	s := Selection{Connector: InternalTransportName, Kind: KindInternalTransport, Basis: BasisThumbprint, LookupName: tp, Candidates: []Candidate{}}
	if err != nil || tp == "" {
		s.Flags.NotFound = true
		if err != nil {
			s.LookupName, s.NameError = configured, err.Error()
			s.Flags.ThumbprintInvalid = true
		} else {
			s.Flags.NoLookupName = true
		}
		return s
	}
	for _, f := range facts {
		if f.thumb != tp {
			continue
		}
		s.Candidates = append(s.Candidates, f.filtered(string(BasisThumbprint)))
		if s.Selected == "" {
			s.Selected, s.Rule = f.thumb, RuleThumbprint
			s.ByRule = []RuleChoice{{RuleThumbprint, f.thumb}}
			applySelectedKey(&s, f)
			s.Flags.SelectedExpired = f.expired(now)
		}
	}
	s.Flags.NotFound = s.Selected == ""
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
		s.NameError = err.Error()
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
		s.Flags.NotFound, s.Flags.NoLookupName = true, true
		if s.Kind == KindReceive {
			s.Flags.StartTLSNotAdvertised = true
		}
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
		s.Candidates = append(s.Candidates, f.filtered(m))
	}
	pool := eligibleOnly(exact)
	if len(pool) == 0 {
		pool = eligibleOnly(wild)
		if len(pool) > 0 {
			s.Flags.WildcardMatch = true
		}
	}
	pick(s, pool, now)
	s.Flags.NoneEligible = s.Selected == "" && len(all) > 0
	if s.Kind == KindReceive {
		s.Flags.StartTLSNotAdvertised = s.Selected == ""
	}
}

func eligibleOnly(in []certFacts) []certFacts {
	var out []certFacts
	for _, f := range in {
		if f.ineligibility() == IneligibleNone {
			out = append(out, f)
		}
	}
	return out
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
