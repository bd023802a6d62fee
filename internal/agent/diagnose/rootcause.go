package diagnose

import (
	"cmp"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Root-cause linking on one server.
//
// Checks run separately (store scan, connector simulation, protocol logs,
// queues, probes), so causes and symptoms meet only here: Link takes every
// CheckResult of a round and fills Finding.explains / explained_by on both
// sides. Edges come from the rules below, joined on evidence (thumbprints,
// connector names, remote hosts, next hops). Every code has a rank and an
// edge always goes from a lower rank to a higher one, so the graph is
// acyclic; the refs are the transitive closure, sorted, so the result is
// deterministic and independent of check order. Link recomputes the refs from
// scratch and is idempotent.

// rank orders codes from cause to symptom.
var rank = map[finding.Code]int{
	finding.CertNoPrivateKey: 0, finding.CertKeyNotAccessible: 0, finding.CertExpired: 0, finding.CertNotYetValid: 0,
	finding.CertChainIncomplete: 0, finding.CertUntrusted: 0, finding.CertSelfSigned: 0, finding.CertWeakKey: 0,
	finding.CertWeakSignature: 0, finding.CertNameMismatch: 0, finding.TLS12Unsupported: 0, finding.ConnectorTLSNameInvalid: 0,
	finding.CertDuplicateIdentity: 1, finding.ConnectorCertNotFound: 1, finding.InternalTransportCertMissing: 1,
	finding.InternalTransportCertKeyless: 1, finding.SMTPStartTLSNotOffered: 1, finding.ConnectorNoTLSCertName: 1,
	finding.ConnectorCertAmbiguous: 2, finding.ConnectorSelectsKeyless: 2,
	finding.EventStartTLSCertNotFound: 2, finding.EventStartTLSCertExpired: 2, finding.EventInternalCertExpired: 2,
	finding.EventCertLoadFailed:     2,
	finding.LogTLSNegotiationFailed: 3, finding.LogTLSCertNotFound: 3, finding.LogStartTLSNotOffered: 3,
	finding.LogUnexpectedCertSent: 3, finding.LogSelfSignedSent: 3,
	finding.LogStartTLSRequired: 4,
	finding.QueueTLSFailure:     5,
}

// certCausesOfSentFailure are certificate codes that explain a failure of a
// session in which this server sent that certificate.
var certCausesOfSentFailure = []finding.Code{
	finding.CertNoPrivateKey, finding.CertKeyNotAccessible, finding.CertExpired, finding.CertNotYetValid,
	finding.CertChainIncomplete, finding.CertUntrusted, finding.CertSelfSigned, finding.CertNameMismatch,
}

type refKey struct{ code, subject string }

type node struct {
	key refKey
	f   *mxv1.Finding // first occurrence: evidence source
	all []*mxv1.Finding
}

func (n *node) ev(k string) string { return n.f.GetEvidence()[k] }

func (n *node) list(k string) []string { return splitList(n.ev(k)) }

func (n *node) is(codes ...finding.Code) bool {
	return slices.Contains(codes, finding.Code(n.key.code))
}

// Link annotates the findings of one round's check results with the
// explains / explained_by references that tie symptoms to their causes.
// Call it once per round with every result (agent check and agent run both do
// via checks.RunAll); calling it again recomputes the same links.
//
// A live probe's handshake (CheckResult.Tls.LeafThumbprint) is an
// observation too: connector findings follow it (observed.go) even when the
// probe found nothing wrong.
func Link(results []*mxv1.CheckResult) {
	var fs []*mxv1.Finding
	var shakes []*mxv1.Finding
	for _, r := range results {
		fs = append(fs, r.GetFindings()...)
		if tp := r.GetTls().GetLeafThumbprint(); tp != "" {
			ep := strings.TrimPrefix(strings.TrimPrefix(r.GetTarget(), "smtp://"), "smtps://")
			shakes = append(shakes, &mxv1.Finding{Subject: tp, Evidence: map[string]string{"origin": "presented", "endpoint": ep}})
		}
	}
	LinkFindings(fs)
	if len(shakes) > 0 {
		idx := map[refKey]*node{}
		var nodes []*node
		for _, f := range fs {
			if f == nil {
				continue
			}
			k := refKey{f.Code, f.Subject}
			if idx[k] == nil {
				idx[k] = &node{key: k, f: f}
				nodes = append(nodes, idx[k])
			}
			idx[k].all = append(idx[k].all, f)
		}
		for _, s := range shakes {
			nodes = append(nodes, &node{key: refKey{"", s.Subject}, f: s, all: []*mxv1.Finding{s}})
		}
		observeHandshakes(nodes)
	}
}

// LinkFindings is Link over a flat list of findings.
func LinkFindings(fs []*mxv1.Finding) {
	idx := map[refKey]*node{}
	var nodes []*node
	for _, f := range fs {
		if f == nil {
			continue
		}
		f.Explains, f.ExplainedBy = nil, nil
		k := refKey{f.Code, f.Subject}
		n := idx[k]
		if n == nil {
			n = &node{key: k, f: f}
			idx[k] = n
			nodes = append(nodes, n)
		}
		n.all = append(n.all, f)
	}
	slices.SortFunc(nodes, func(a, b *node) int {
		return cmp.Or(cmp.Compare(rankOf(a.key.code), rankOf(b.key.code)), cmp.Compare(a.key.code, b.key.code), cmp.Compare(a.key.subject, b.key.subject))
	})
	causes := map[refKey]map[refKey]bool{} // symptom -> direct causes
	for _, c := range nodes {
		for _, s := range nodes {
			if rankOf(c.key.code) >= rankOf(s.key.code) || !explains(c, s) {
				continue
			}
			if causes[s.key] == nil {
				causes[s.key] = map[refKey]bool{}
			}
			causes[s.key][c.key] = true
		}
	}
	// Transitive closure, walking in rank order so causes are complete
	// before their symptoms are visited.
	ancestors := map[refKey]map[refKey]bool{}
	for _, n := range nodes {
		set := map[refKey]bool{}
		for c := range causes[n.key] {
			set[c] = true
			for a := range ancestors[c] {
				set[a] = true
			}
		}
		ancestors[n.key] = set
	}
	descendants := map[refKey][]refKey{}
	for _, n := range nodes {
		for a := range ancestors[n.key] {
			descendants[a] = append(descendants[a], n.key)
		}
	}
	for _, n := range nodes {
		by := sortedRefs(keysOf(ancestors[n.key]))
		ex := sortedRefs(descendants[n.key])
		for _, f := range n.all {
			f.ExplainedBy = toRefs(by)
			f.Explains = toRefs(ex)
		}
	}
	for _, s := range nodes {
		for _, c := range sortedRefs(keysOf(causes[s.key])) {
			observe(idx[c], s)
		}
	}
	observeSends(nodes)
	observeHandshakes(nodes)
}

func rankOf(code string) int {
	if r, ok := rank[finding.Code(code)]; ok {
		return r
	}
	return 100 // unranked codes are never linked
}

func keysOf(m map[refKey]bool) []refKey {
	out := make([]refKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedRefs(ks []refKey) []refKey {
	slices.SortFunc(ks, func(a, b refKey) int {
		return cmp.Or(cmp.Compare(rankOf(a.code), rankOf(b.code)), cmp.Compare(a.code, b.code), cmp.Compare(a.subject, b.subject))
	})
	return ks
}

func toRefs(ks []refKey) []*mxv1.FindingRef {
	if len(ks) == 0 {
		return nil
	}
	out := make([]*mxv1.FindingRef, len(ks))
	for i, k := range ks {
		out[i] = &mxv1.FindingRef{Code: k.code, Subject: k.subject}
	}
	return out
}

// explains is the rule table: does cause c directly explain symptom s?
func explains(c, s *node) bool {
	switch {
	// A certificate in the store explains what happens where it is used.
	case c.is(certCausesOfSentFailure...) && c.ev("origin") != "presented":
		tp := c.key.subject
		switch {
		case s.is(finding.LogTLSNegotiationFailed, finding.LogUnexpectedCertSent):
			return s.ev(finding.EvThumbprintSent) == tp
		case s.is(finding.ConnectorSelectsKeyless) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			return slices.Contains(s.list(finding.EvKeyless), tp)
		case s.is(finding.ConnectorCertAmbiguous) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			return slices.Contains(s.list(finding.EvCandidates), tp)
		case s.is(finding.CertDuplicateIdentity) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			return slices.Contains(s.list(finding.EvDuplicateKeyless), tp)
		case s.is(finding.InternalTransportCertKeyless) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			return s.key.subject == tp
		case s.is(finding.ConnectorCertNotFound, finding.SMTPStartTLSNotOffered) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			// A match exists but its key makes it ineligible.
			return slices.Contains(s.list(finding.EvIneligible), tp)
		case s.is(finding.EventStartTLSCertNotFound) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible, finding.CertChainIncomplete, finding.CertUntrusted):
			// Event 12014: a certificate for the name exists but is not
			// eligible (no usable key, or a chain the lookup rejects).
			return certCovers(c, s.ev(evEventDomain))
		case s.is(finding.EventStartTLSCertExpired) && c.is(finding.CertExpired):
			return certCovers(c, s.ev(evEventFQDN))
		case s.is(finding.EventInternalCertExpired) && c.is(finding.CertExpired):
			return strings.EqualFold(s.key.subject, tp)
		case s.is(finding.EventCertLoadFailed) && c.is(finding.CertNoPrivateKey, finding.CertKeyNotAccessible):
			return strings.EqualFold(s.key.subject, tp)
		}
	case c.is(finding.InternalTransportCertMissing, finding.InternalTransportCertKeyless):
		return s.is(finding.EventCertLoadFailed) && strings.EqualFold(c.key.subject, s.key.subject)
	case c.is(finding.EventStartTLSCertNotFound):
		return s.is(finding.LogStartTLSNotOffered) && sameConnector(c, s) && s.ev(finding.EvDirection) == "receive"
	case c.is(finding.CertDuplicateIdentity):
		if s.is(finding.ConnectorCertAmbiguous) {
			return overlaps(c.list(finding.EvDuplicateThumbs), s.list(finding.EvCandidates))
		}
	case c.is(finding.ConnectorSelectsKeyless):
		switch {
		case s.is(finding.LogTLSNegotiationFailed):
			return sameConnector(c, s) && localCredentialStatus(s.ev(finding.EvStatus))
		case s.is(finding.LogUnexpectedCertSent):
			return sameConnector(c, s) && slices.Contains(c.list(finding.EvKeyless), s.ev(finding.EvThumbprintSent))
		case s.is(finding.QueueTLSFailure):
			return connectorReaches(c, s)
		}
	case c.is(finding.ConnectorCertAmbiguous):
		return s.is(finding.LogUnexpectedCertSent) && sameConnector(c, s)
	case c.is(finding.ConnectorNoTLSCertName):
		// The connector without TlsCertificateName is the one the log shows
		// presenting the self-signed certificate.
		return s.is(finding.LogSelfSignedSent) && sameConnector(c, s) && c.ev(finding.EvConnectorKind) == s.ev(finding.EvDirection)
	case c.is(finding.ConnectorCertNotFound, finding.ConnectorTLSNameInvalid):
		switch {
		case s.is(finding.LogTLSCertNotFound):
			return sameConnector(c, s)
		case s.is(finding.LogStartTLSNotOffered):
			return sameConnector(c, s) && s.ev(finding.EvDirection) == "receive"
		case s.is(finding.QueueTLSFailure):
			return slices.Contains(s.list(finding.EvReplies), "454 4.7.5") && connectorReaches(c, s)
		case s.is(finding.EventStartTLSCertNotFound):
			return sameConnector(c, s)
		}
	case c.is(finding.SMTPStartTLSNotOffered) && c.ev(finding.EvPredicted) == "true":
		return (s.is(finding.LogStartTLSNotOffered) && s.ev(finding.EvDirection) == "receive" || s.is(finding.EventStartTLSCertNotFound)) && sameConnector(c, s)
	case c.is(finding.TLS12Unsupported):
		if s.is(finding.LogTLSNegotiationFailed) && strings.EqualFold(s.ev(finding.EvStatus), "SocketError") {
			host := endpointHost(c.key.subject)
			return slices.ContainsFunc(append(s.list(finding.EvRemoteHosts), s.list(finding.EvRemoteNames)...), func(h string) bool { return strings.EqualFold(h, host) })
		}
	case c.is(finding.LogTLSNegotiationFailed, finding.LogTLSCertNotFound, finding.LogStartTLSNotOffered):
		switch {
		case s.is(finding.LogStartTLSRequired):
			return sameConnector(c, s) && c.ev(finding.EvDirection) == s.ev(finding.EvDirection) && remotesOverlap(c, s)
		case s.is(finding.QueueTLSFailure):
			return c.ev(finding.EvDirection) == "send" && logReachesQueue(c, s)
		}
	case c.is(finding.LogStartTLSRequired):
		return s.is(finding.QueueTLSFailure) && c.ev(finding.EvDirection) == "send" && logReachesQueue(c, s)
	}
	return false
}

// certCovers reports whether a certificate finding's names (SANs, else the
// subject's CN) cover host.
func certCovers(c *node, host string) bool {
	if host == "" {
		return false
	}
	names := c.list("dns_names")
	for _, rdn := range strings.Split(c.ev("subject"), ",") {
		if cn, ok := strings.CutPrefix(strings.TrimSpace(rdn), "CN="); ok {
			names = append(names, cn)
		}
	}
	return slices.ContainsFunc(names, func(n string) bool { return exchange.MatchHost(strings.TrimSpace(n), host) != exchange.NameNoMatch })
}

func overlaps(a, b []string) bool {
	return slices.ContainsFunc(a, func(x string) bool { return x != "" && slices.Contains(b, x) })
}

// sameConnector compares connector names as configured and as logged
// ("SERVER\name" or "name"), case-insensitively.
func sameConnector(a, b *node) bool {
	x, y := strings.ToLower(a.ev(finding.EvConnector)), strings.ToLower(b.ev(finding.EvConnector))
	if x == "" || y == "" {
		return false
	}
	if x == y {
		return true
	}
	short := func(s string) string {
		if i := strings.LastIndexByte(s, '\\'); i >= 0 {
			return s[i+1:]
		}
		return s
	}
	return short(x) == short(y)
}

func remotesOverlap(a, b *node) bool {
	if overlaps(a.list(finding.EvRemoteHosts), b.list(finding.EvRemoteHosts)) {
		return true
	}
	for _, x := range a.list(finding.EvRemoteNames) {
		for _, y := range b.list(finding.EvRemoteNames) {
			if hostsRelated(x, y) {
				return true
			}
		}
	}
	return false
}

func endpointHost(ep string) string {
	if i := strings.LastIndexByte(ep, ':'); i > 0 && !strings.HasSuffix(ep, "]") {
		ep = ep[:i]
	}
	return strings.Trim(ep, "[]")
}

// exoSuffixes are Exchange Online's mail domains: any two names under one of
// them are the same service (front ends rotate).
var exoSuffixes = []string{".mail.protection.outlook.com", ".mail.onmicrosoft.com", ".protection.outlook.com", ".outlook.com"}

func exoName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if !isASCII(h) {
		h = strings.ToLower(h)
		return slices.ContainsFunc(exoSuffixes, func(s string) bool { return strings.HasSuffix(h, s) })
	}
	// An ASCII name (all real ones): the tail compared without case, no
	// lower-cased copy (the log window asks once per session).
	return slices.ContainsFunc(exoSuffixes, func(s string) bool { return len(h) >= len(s) && strings.EqualFold(h[len(h)-len(s):], s) })
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// hostsRelated: equal names, names in the same domain below the first label,
// or both Exchange Online.
func hostsRelated(a, b string) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	return a == b || remoteScope(a, a) == remoteScope(b, b) || exoName(a) && exoName(b) ||
		strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func queueHops(q *node) []string {
	var out []string
	for _, k := range []string{finding.EvNextHop, "lasterror_fqdn"} {
		if v := q.ev(k); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func logReachesQueue(l, q *node) bool {
	if ip := q.ev("lasterror_ip"); ip != "" && slices.Contains(l.list(finding.EvRemoteHosts), ip) {
		return true
	}
	for _, hop := range queueHops(q) {
		for _, n := range l.list(finding.EvRemoteNames) {
			if hostsRelated(hop, n) {
				return true
			}
		}
	}
	return false
}

// connectorReaches: the queue's next hop is one the send connector serves
// (a specific address space or smart host; "*" is too broad to link on), or
// both are Exchange Online.
func connectorReaches(c, q *node) bool {
	if c.ev(finding.EvConnectorKind) != string(exchange.KindSend) {
		return false
	}
	for _, hop := range queueHops(q) {
		for _, as := range c.list(finding.EvAddressSpaces) {
			if as == "" || as == "*" {
				continue
			}
			if exchange.MatchHost(as, hop) != exchange.NameNoMatch || hostsRelated(as, hop) {
				return true
			}
		}
		for _, sh := range c.list(finding.EvSmartHosts) {
			if hostsRelated(strings.Trim(sh, "[]"), hop) {
				return true
			}
		}
		if c.ev("targets_exchange_online") == "true" && exoName(hop) {
			return true
		}
	}
	return false
}

// Diagnosis is one root cause with every symptom it explains.
type Diagnosis struct {
	Cause    *mxv1.Finding
	Symptoms []*mxv1.Finding
}

// Diagnoses groups linked findings (see Link) under their root causes: a
// root explains something and is explained by nothing. Roots come worst
// first; each (code, subject) appears once per diagnosis.
func Diagnoses(fs []*mxv1.Finding) []Diagnosis {
	first := map[refKey]*mxv1.Finding{}
	for _, f := range fs {
		k := refKey{f.GetCode(), f.GetSubject()}
		if first[k] == nil {
			first[k] = f
		}
	}
	var out []Diagnosis
	seen := map[refKey]bool{}
	for _, f := range fs {
		k := refKey{f.GetCode(), f.GetSubject()}
		if seen[k] || len(f.GetExplains()) == 0 || len(f.GetExplainedBy()) > 0 {
			continue
		}
		seen[k] = true
		d := Diagnosis{Cause: f}
		for _, r := range f.GetExplains() {
			if s := first[refKey{r.GetCode(), r.GetSubject()}]; s != nil {
				d.Symptoms = append(d.Symptoms, s)
			}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Diagnosis) int {
		return cmp.Or(cmp.Compare(b.Cause.GetSeverity(), a.Cause.GetSeverity()), cmp.Compare(len(b.Symptoms), len(a.Symptoms)),
			cmp.Compare(a.Cause.GetCode(), b.Cause.GetCode()), cmp.Compare(a.Cause.GetSubject(), b.Cause.GetSubject()))
	})
	return out
}
