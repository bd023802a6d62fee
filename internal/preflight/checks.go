package preflight

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// Check identifiers (the one place they are spelled).
const (
	CheckTLSName     = "tls-certificate-name"
	CheckKey         = "private-key"
	CheckChain       = "chain"
	CheckNames       = "name-coverage"
	CheckKeyUsage    = "key-usage"
	CheckKeyStrength = "key-strength"
	CheckDuplicate   = "duplicate-identity"
	CheckOldExpiry   = "old-expiry"
	CheckValidity    = "validity"
	CheckDANE        = "dane"
)

func checks(in Input, leaf, n certstore.Certificate, bundle []*x509.Certificate, store []certstore.Certificate,
	today, after, final []exchange.Selection, replaced []certstore.Certificate) []Check {
	var out []Check
	out = append(out, tlsNameChecks(in, n, today, final)...)
	out = append(out, keyCheck(in, leaf, n))
	out = append(out, chainCheck(in, n, bundle, store))
	out = append(out, nameChecks(in, n, replaced)...)
	out = append(out, keyUsageCheck(in, n), strengthCheck(n), validityCheck(in, n))
	if c, ok := duplicateCheck(in, n, after); ok {
		out = append(out, c)
	}
	out = append(out, expiryChecks(in, n, today)...)
	out = append(out, daneChecks(in, n, bundle, store)...)
	return out
}

// tlsNameChecks: every connector with TlsCertificateName must designate
// the new certificate once the old one is gone.
func tlsNameChecks(in Input, n certstore.Certificate, today, final []exchange.Selection) []Check {
	want := exchange.TLSCertificateNameFor(n.Cert).String()
	var out []Check
	for i, s := range today {
		if s.Basis != exchange.BasisTLSName {
			continue
		}
		name := connName(in, s)
		tn, err := exchange.ParseTLSCertificateName(s.LookupName)
		if err != nil {
			continue // CONNECTOR_TLS_NAME_INVALID today already says it
		}
		match, subjectOK := tn.Matches(n.Cert)
		switch {
		case match:
			out = append(out, Check{ID: CheckTLSName, Status: Pass,
				Summary: fmt.Sprintf("%s: TlsCertificateName %s designates the new certificate", name, s.LookupName)})
		default:
			why := "subject and issuer differ"
			if subjectOK {
				why = "same subject, different issuer (renewed through another CA or intermediate)"
			}
			st, what := Warn, "it keeps using the old certificate until it expires"
			if final[i].Selected == "" {
				st, what = Fail, "once the old certificate is removed or expires it finds none (CONNECTOR_CERT_NOT_FOUND, 454 4.7.5 / event 12014)"
			}
			out = append(out, Check{ID: CheckTLSName, Status: st,
				Summary: fmt.Sprintf("%s: TlsCertificateName %s does not match the new certificate (%s); %s", name, s.LookupName, why, what),
				Detail:  fmt.Sprintf("Set it to %s (%s)", want, setNameCommand(in, s, want))})
		}
	}
	return out
}

func keyCheck(in Input, leaf, n certstore.Certificate) Check {
	switch _, ev := requestKey(in, leaf); ev {
	case reqMissing:
		return Check{ID: CheckKey, Status: Fail,
			Summary: "the certificate is to complete a request made on this server, but " + n.KeyDetail + "; transport fails with NoCredentials when it selects it (CONNECTOR_SELECTS_KEYLESS_CERT)",
			Detail:  "import it on the server that created the request, or import the PFX with its key; Get-ChildItem Cert:\\LocalMachine\\REQUEST lists the pending requests"}
	case reqNotRead, reqKeyUnknown:
		why := "the request store was not read"
		switch {
		case ev == reqKeyUnknown:
			why = "a request with its public key is in " + in.Requests.URI + ", but that store does not say whether its key is still there"
		case in.Requests != nil:
			why = in.Requests.URI + " could not be read: " + in.Requests.Err
		}
		return Check{ID: CheckKey, Status: NotChecked,
			Summary: "not checked: whether a pending request on this server holds the key of this .cer (" + why + "); the prediction assumes it does",
			Detail:  "on the server, run the pre-flight with its default --request-store windows:LocalMachine\\REQUEST, or check Get-ChildItem Cert:\\LocalMachine\\REQUEST for a request with this certificate's public key"}
	case reqUnusable:
		return Check{ID: CheckKey, Status: Fail, Summary: n.KeyDetail,
			Detail: "create a new request (New-ExchangeCertificate -GenerateRequest) and have it signed, or import the PFX with its key"}
	}
	switch exchange.KeyStateOf(n) {
	case exchange.KeyOK:
		how := "in the file"
		if n.KeyDetail != "" {
			how = n.KeyDetail
		}
		return Check{ID: CheckKey, Status: Pass, Summary: "the private key will be present after the import (" + how + ")",
			Detail: "Enable-ExchangeCertificate -Services SMTP grants NETWORK SERVICE read access to it (the plan's check after that step proves it); Import-ExchangeCertificate imports the key non-exportable unless -PrivateKeyExportable $true is given, so keep the PFX for the other servers that need the same certificate (every Edge server sending to Exchange Online)"}
	case exchange.KeyUnusable:
		return Check{ID: CheckKey, Status: Fail, Summary: "the file references a key that cannot be used: " + n.KeyDetail,
			Detail: "export the certificate again as a PFX with its private key"}
	}
	return Check{ID: CheckKey, Status: Fail,
		Summary: "the new certificate comes without a private key: imported as is it is keyless, and transport fails with NoCredentials when it selects it (CONNECTOR_SELECTS_KEYLESS_CERT)",
		Detail:  "import the PFX with its key, or the .cer on the server that created the request (--key-source request); check with certutil -repairstore my THUMBPRINT"}
}

// chainCheck walks issuers through the file's own chain, the store(s)
// transport reads and the server's CA and Root stores, then tries the
// roots of the machine running the check.
func chainCheck(in Input, n certstore.Certificate, bundle []*x509.Certificate, store []certstore.Certificate) Check {
	type link struct {
		c     *x509.Certificate
		where string
	}
	var pool []link
	for _, b := range bundle {
		pool = append(pool, link{b, "the file"})
	}
	for _, s := range store {
		pool = append(pool, link{s.Cert, s.Source})
	}
	var read, unread []string
	for _, cs := range in.ChainStores {
		if cs.Err != "" {
			unread = append(unread, cs.URI+" ("+cs.Err+")")
			continue
		}
		read = append(read, cs.URI)
		for _, c := range cs.Certs {
			pool = append(pool, link{c, cs.URI})
		}
	}
	cur := n.Cert
	path := []string{displayName(cur)}
	for depth := 0; depth < 10; depth++ {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) && cur.CheckSignatureFrom(cur) == nil {
			return Check{ID: CheckChain, Status: Pass, Summary: "chain complete: " + strings.Join(path, " <- ")}
		}
		var next *link
		for i, p := range pool {
			if p.c != cur && bytes.Equal(p.c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(p.c) == nil {
				next = &pool[i]
				break
			}
		}
		if next == nil {
			break
		}
		cur = next.c
		path = append(path, displayName(cur)+" ("+whereText(next.where)+")")
	}
	inter := x509.NewCertPool()
	for _, p := range pool {
		inter.AddCert(p.c)
	}
	if _, err := n.Cert.Verify(x509.VerifyOptions{Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: n.Cert.NotBefore.Add(1)}); err == nil {
		return Check{ID: CheckChain, Status: Pass, Summary: "chain complete up to a root the machine running the pre-flight trusts: " + strings.Join(path, " <- ")}
	}
	searched := "the file and the store(s) transport reads"
	if len(read) > 0 {
		searched += ", " + strings.Join(read, ", ")
	}
	summary := fmt.Sprintf("chain incomplete: %s is issued by %s, found in neither %s", displayName(cur), cur.Issuer.String(), searched)
	detail := "install the intermediate (LocalMachine\\CA) and root (LocalMachine\\Root) on the server and check with certutil -verify: TlsCertificateName lookups accept only certificates whose chain validates (catalog I: event 12014, 451 5.7.3); Windows may fetch a missing intermediate through the certificate's AIA URL, which an Edge server in a perimeter network usually cannot reach"
	switch {
	case len(unread) > 0:
		summary += "; not read: " + strings.Join(unread, ", ")
	case len(in.ChainStores) == 0:
		summary += "; the server's CA and Root stores were not read (give them with --chain-store, e.g. a snapshot of LocalMachine\\CA)"
	}
	return Check{ID: CheckChain, Status: Warn, Summary: summary, Detail: detail}
}

func chainCerts(in Input) []*x509.Certificate {
	var out []*x509.Certificate
	for _, cs := range in.ChainStores {
		out = append(out, cs.Certs...)
	}
	return out
}

func whereText(w string) string {
	if w == "" {
		return "the store"
	}
	return w
}

// nameChecks: names connectors are looked up by, names the old
// certificates carried, Exchange Online's TlsSenderCertificateName, MTA-STS
// mx patterns (sources.go).
func nameChecks(in Input, n certstore.Certificate, replaced []certstore.Certificate) []Check {
	var out []Check
	need := map[string]string{}
	add := func(h, why string) {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h != "" && need[h] == "" {
			need[h] = why
		}
	}
	add(in.Config.Server.Fqdn, "the server FQDN")
	for _, c := range in.Config.SendConnectors {
		if c.Enabled {
			add(c.Fqdn, "Fqdn of send connector "+c.Name)
		}
	}
	for _, c := range in.Config.ReceiveConnectors {
		if c.Enabled {
			add(c.Fqdn, "Fqdn of receive connector "+c.Name)
		}
	}
	var hosts []string
	for h := range need {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		if exchange.MatchCertificateName(n.Cert, h) != exchange.NameNoMatch {
			out = append(out, Check{ID: CheckNames, Status: Pass, Summary: fmt.Sprintf("%s (%s) is covered", h, need[h])})
			continue
		}
		var oldHad string
		for _, r := range replaced {
			if exchange.MatchCertificateName(r.Cert, h) != exchange.NameNoMatch {
				oldHad = r.Thumbprint
			}
		}
		if oldHad != "" {
			out = append(out, Check{ID: CheckNames, Status: Fail,
				Summary: fmt.Sprintf("%s (%s) is covered by the old certificate %s but not by the new one", h, need[h], oldHad),
				Detail:  "have the certificate reissued with this name in the SAN; receive connectors looked up by it stop offering STARTTLS (event 12014) once the old one is gone"})
		} else {
			out = append(out, Check{ID: CheckNames, Status: Info, Summary: fmt.Sprintf("%s (%s) is covered neither by the new nor by the old certificate", h, need[h])})
		}
	}
	out = append(out, senderNameChecks(in, n, replaced)...)
	out = append(out, mtastsChecks(in, n, replaced)...)
	return out
}

// mxMatches applies an MTA-STS mx pattern (RFC 8461 4.1: "*.example.com"
// matches one label) to a certificate name.
func mxMatches(pattern, name string) bool {
	p, n := strings.ToLower(strings.TrimSuffix(pattern, ".")), strings.ToLower(strings.TrimSuffix(name, "."))
	if p == n {
		return true
	}
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		if nn, ok := strings.CutPrefix(n, "*."); ok {
			return nn == rest
		}
		i := strings.IndexByte(n, '.')
		return i > 0 && n[i+1:] == rest
	}
	return false
}

func keyUsageCheck(in Input, n certstore.Certificate) Check {
	c := n.Cert
	var problems []string
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
			problems = append(problems, "EKU lacks serverAuth (receive connectors present it to senders)")
		}
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			for _, s := range in.Config.SendConnectors {
				if exo, _ := s.TargetsExchangeOnline(); exo && s.Enabled {
					problems = append(problems, "EKU lacks clientAuth, which send connector "+s.Name+" needs to authenticate to Exchange Online")
					break
				}
			}
		}
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		problems = append(problems, "key usage allows neither digitalSignature nor keyEncipherment")
	}
	if len(problems) > 0 {
		return Check{ID: CheckKeyUsage, Status: Fail, Summary: strings.Join(problems, "; "),
			Detail: "have the certificate reissued from a template with serverAuth and clientAuth (e.g. the Web Server template plus Client Authentication)"}
	}
	return Check{ID: CheckKeyUsage, Status: Pass, Summary: "key usage and EKU allow TLS server and client use"}
}

func strengthCheck(n certstore.Certificate) Check {
	c := n.Cert
	var problems []string
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			problems = append(problems, fmt.Sprintf("RSA key of %d bits (under 2048)", k.N.BitLen()))
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			problems = append(problems, fmt.Sprintf("EC key of %d bits (under 256)", k.Curve.Params().BitSize))
		}
	}
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		problems = append(problems, "signed with "+c.SignatureAlgorithm.String())
	}
	if len(problems) > 0 {
		return Check{ID: CheckKeyStrength, Status: Fail, Summary: strings.Join(problems, "; ") + " (CERT_WEAK_KEY / CERT_WEAK_SIGNATURE)",
			Detail: "request a new certificate with RSA 2048+ or P-256+ and SHA-256"}
	}
	return Check{ID: CheckKeyStrength, Status: Pass, Summary: fmt.Sprintf("%s key, %s signature", c.PublicKeyAlgorithm, c.SignatureAlgorithm)}
}

func validityCheck(in Input, n certstore.Certificate) Check {
	now := in.Diag.Now
	switch {
	case now.After(n.Cert.NotAfter):
		return Check{ID: CheckValidity, Status: Fail, Summary: "the new certificate is already expired (" + n.Cert.NotAfter.UTC().Format("2006-01-02") + ")"}
	case now.Before(n.Cert.NotBefore):
		return Check{ID: CheckValidity, Status: Warn, Summary: "the new certificate is not valid before " + n.Cert.NotBefore.UTC().Format("2006-01-02 15:04 MST"),
			Detail: "switch connectors only after that time (CERT_NOT_YET_VALID)"}
	}
	return Check{ID: CheckValidity, Status: Pass, Summary: fmt.Sprintf("valid until %s (%d days)", n.Cert.NotAfter.UTC().Format("2006-01-02"), days(n.Cert.NotAfter.Sub(now)))}
}

// duplicateCheck: old and new share issuer and subject.
func duplicateCheck(in Input, n certstore.Certificate, after []exchange.Selection) (Check, bool) {
	var lines []string
	for _, s := range after {
		if s.Basis != exchange.BasisTLSName || !s.Flags.Ambiguous || s.Candidate(n.Thumbprint) == nil {
			continue
		}
		var picks []string
		for _, b := range s.ByRule {
			who := "the old certificate " + b.Thumbprint
			if b.Thumbprint == n.Thumbprint {
				who = "the new certificate"
			}
			picks = append(picks, fmt.Sprintf("%s picks %s", ruleText(b.Rule), who))
		}
		lines = append(lines, connName(in, s)+": "+strings.Join(picks, ", "))
	}
	if len(lines) == 0 {
		return Check{}, false
	}
	return Check{ID: CheckDuplicate, Status: Warn,
		Summary: "old and new certificates share issuer and subject (CONNECTOR_CERT_AMBIGUOUS, CERT_DUPLICATE_IDENTITY): " + strings.Join(lines, "; "),
		Detail:  "which one transport uses depends on the build and is cached until MSExchangeTransport restarts; remove the old certificate after switching (plan step) and restart transport"}, true
}

func ruleText(r exchange.Rule) string {
	switch r {
	case exchange.RuleFirstMatch:
		return "builds taking the first match in the store"
	case exchange.RuleLatestExpiring:
		return "builds taking the latest-expiring match"
	case exchange.RuleNewestCAIssued:
		return "the newest CA-issued match with a usable key"
	case exchange.RuleNewestSelfSigned:
		return "the newest self-signed match with a usable key"
	}
	return string(r)
}

// expiryChecks: how long until the first failure if the renewal is not done.
func expiryChecks(in Input, n certstore.Certificate, today []exchange.Selection) []Check {
	first := map[string][]string{}
	var order []string
	for _, s := range today {
		if s.Selected == "" || s.Selected == n.Thumbprint {
			continue
		}
		if _, ok := first[s.Selected]; !ok {
			order = append(order, s.Selected)
		}
		first[s.Selected] = append(first[s.Selected], connName(in, s))
	}
	var out []Check
	for _, tp := range order {
		var na = candidateNotAfter(today, tp)
		left := na.Sub(in.Diag.Now)
		st, what := Info, fmt.Sprintf("%d days", days(left))
		switch {
		case left <= 0:
			st, what = Fail, "already expired"
		case left < 30*24*time.Hour:
			st = Warn
		}
		out = append(out, Check{ID: CheckOldExpiry, Status: st,
			Summary: fmt.Sprintf("today's certificate %s expires %s (%s): without the renewal %s fail then", tp, na.UTC().Format("2006-01-02 15:04 MST"), what, strings.Join(first[tp], ", "))})
	}
	return out
}

func candidateNotAfter(sels []exchange.Selection, tp string) (t time.Time) {
	for _, s := range sels {
		if c := s.Candidate(tp); c != nil {
			return c.NotAfter
		}
	}
	return t
}

// daneChecks: the 3 1 1 and 2 1 1 values and whether they are published.
func daneChecks(in Input, n certstore.Certificate, bundle []*x509.Certificate, store []certstore.Certificate) []Check {
	ee, err := dane.RecordFor(n.Cert, 3, dane.SelectorSPKI, dane.MatchingSHA256)
	if err != nil {
		return nil
	}
	want := []dane.Record{ee}
	if is := issuerOf(n.Cert, append(slices.Clone(bundle), chainCerts(in)...), store); is != nil {
		if ta, err := dane.RecordFor(is, 2, dane.SelectorSPKI, dane.MatchingSHA256); err == nil {
			want = append(want, ta)
		}
	}
	var vals []string
	for _, r := range want {
		vals = append(vals, r.String())
	}
	if in.TLSA == nil {
		return []Check{{ID: CheckDANE, Status: NotChecked, Summary: "not checked: published TLSA records (no mail domains configured to look them up for); the new certificate's values are " + strings.Join(vals, "; ")}}
	}
	var out []Check
	for _, t := range in.TLSA {
		switch {
		case t.Err != "":
			out = append(out, Check{ID: CheckDANE, Status: NotChecked, Summary: "not checked: _25._tcp." + t.Host + " TLSA could not be read: " + t.Err,
				Detail: "the new certificate's values are " + strings.Join(vals, "; ")})
		case len(t.Records) == 0:
			out = append(out, Check{ID: CheckDANE, Status: Info, Summary: "_25._tcp." + t.Host + ": no TLSA records (DANE not in use)"})
		default:
			if r, ok := dane.MatchNext(t.Records, n.Cert, chainAbove(in, bundle, store), dane.Options{Names: []string{t.Host}, Now: in.Diag.Now}); ok {
				out = append(out, Check{ID: CheckDANE, Status: Pass, Summary: "_25._tcp." + t.Host + " already publishes " + r.String()})
			} else {
				out = append(out, Check{ID: CheckDANE, Status: Fail,
					Summary: "_25._tcp." + t.Host + " publishes TLSA records none of which match the new certificate: DANE senders (Exchange Online included) would fail (tlsa-invalid) after switching",
					Detail:  "publish " + strings.Join(vals, " or ") + " next to the current records, wait for the TTL, then switch; remove the old records afterwards"})
			}
		}
	}
	return out
}

// chainAbove is what the server may send above the new certificate: the
// file's chain, the CA certificates of the store and the server's chain
// stores (dane.MatchNext finds a DANE-TA anchor among them).
func chainAbove(in Input, bundle []*x509.Certificate, store []certstore.Certificate) []*x509.Certificate {
	out := append(slices.Clone(bundle), chainCerts(in)...)
	for _, c := range store {
		if c.Cert.IsCA {
			out = append(out, c.Cert)
		}
	}
	return out
}

// TLSAValue renders a record as zone-file data.
func TLSAValue(r dane.Record) string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, strings.ToUpper(hex.EncodeToString(r.Data)))
}

func issuerOf(c *x509.Certificate, bundle []*x509.Certificate, store []certstore.Certificate) *x509.Certificate {
	pool := slices.Clone(bundle)
	for _, s := range store {
		pool = append(pool, s.Cert)
	}
	for _, p := range pool {
		if bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}

func connName(in Input, s exchange.Selection) string {
	if s.Kind == exchange.KindInternalTransport {
		return "internal transport certificate"
	}
	return string(s.Kind) + " connector " + diagnoseSubject(in, s)
}

func displayName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

func days(d time.Duration) int { return int(math.Floor(d.Hours() / 24)) }
