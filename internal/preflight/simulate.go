package preflight

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// Sentinel errors callers branch on.
var (
	// ErrNoCertificate: the renewal's files hold no end-entity certificate.
	ErrNoCertificate = errors.New("preflight: no end-entity certificate in the new certificate file")
	// ErrNoConfig: there is no Exchange inventory to predict on.
	ErrNoConfig = errors.New("preflight: no Exchange inventory")
)

// Run predicts the renewal.
func Run(in Input) (Report, error) {
	if in.Config == nil {
		return Report{}, ErrNoConfig
	}
	if in.Diag.Now.IsZero() {
		return Report{}, errors.New("preflight: Diag.Now must be set")
	}
	leaf, bundle, err := newLeaf(in.New)
	if err != nil {
		return Report{}, err
	}
	imported := importAs(leaf, in)
	today := in.Store.Certificates
	after := withImport(today, imported)
	sToday, err := exchange.SimulateSelection(in.Config, today, exchange.SelectOptions{Now: in.Diag.Now})
	if err != nil {
		return Report{}, fmt.Errorf("preflight: %w", err)
	}
	sAfter, err := exchange.SimulateSelection(in.Config, after, exchange.SelectOptions{Now: in.Diag.Now})
	if err != nil {
		return Report{}, fmt.Errorf("preflight: %w", err)
	}
	replaced := replacedBy(imported, sToday, today)
	final := without(after, replaced)
	finalIn := in
	finalIn.Config = enabledForSMTP(in.Config, imported, replaced)
	sFinal, err := exchange.SimulateSelection(finalIn.Config, final, exchange.SelectOptions{Now: in.Diag.Now})
	if err != nil {
		return Report{}, fmt.Errorf("preflight: %w", err)
	}
	fToday, err := diagnosis(in, today)
	if err != nil {
		return Report{}, err
	}
	fAfter, err := diagnosis(in, after)
	if err != nil {
		return Report{}, err
	}
	fFinal, err := diagnosis(finalIn, final)
	if err != nil {
		return Report{}, err
	}
	r := Report{Server: serverName(in.Config), New: certInfo(imported)}
	for _, c := range replaced {
		r.Replaced = append(r.Replaced, certInfo(c))
	}
	for i, s := range sToday {
		c := Connector{
			Name:   certdiag.ConnectorSubject(s.Kind, in.Config.Server.Name, s.Connector),
			Kind:   s.Kind,
			Role:   roleOf(in.Config, s),
			Lookup: lookupText(s),
			Today:  stateOf(s, fToday),
		}
		// SimulateSelection's output depends only on the configuration, so
		// the three runs list the same selections in the same order.
		c.Import = stateOf(sAfter[i], fAfter)
		c.Removal = stateOf(sFinal[i], fFinal)
		c.UsesNew = c.Import.Selected == imported.Thumbprint
		c.Outcome, c.NewCodes = outcome(c)
		if c.Outcome == Breaks {
			r.Breaks = true
		}
		r.Connectors = append(r.Connectors, c)
	}
	r.Checks = checks(in, leaf, imported, bundle, today, sToday, sAfter, sFinal, replaced)
	for _, ch := range r.Checks {
		if ch.Status == Fail {
			r.Breaks = true
		}
	}
	r.Plan = plan(in, imported, replaced, sToday, r.Checks)
	r.Inputs = inputs(in)
	return r, nil
}

// newLeaf picks the end-entity certificate of the renewal's files (the one
// with a key when several); the rest is the chain that came with it.
func newLeaf(c certstore.Contents) (certstore.Certificate, []*x509.Certificate, error) {
	var leaf *certstore.Certificate
	var bundle []*x509.Certificate
	for i := range c.Certificates {
		x := c.Certificates[i]
		if x.Cert.IsCA {
			bundle = append(bundle, x.Cert)
			continue
		}
		if leaf == nil || (!leaf.HasPrivateKey && x.HasPrivateKey) {
			if leaf != nil {
				bundle = append(bundle, leaf.Cert)
			}
			leaf = &c.Certificates[i]
			continue
		}
		bundle = append(bundle, x.Cert)
	}
	if leaf == nil {
		var why []string
		for _, p := range c.Problems {
			why = append(why, p.String())
		}
		if len(why) > 0 {
			return certstore.Certificate{}, nil, fmt.Errorf("%w (%s)", ErrNoCertificate, strings.Join(why, "; "))
		}
		return certstore.Certificate{}, nil, ErrNoCertificate
	}
	return *leaf, bundle, nil
}

// importAs is the store entry Import-ExchangeCertificate would create.
func importAs(leaf certstore.Certificate, in Input) certstore.Certificate {
	c := leaf
	c.Source = "import:" + in.NewFile
	c.Sources = []string{c.Source}
	c.TransportCanReadKey = nil // Enable-ExchangeCertificate -Services SMTP grants it
	c.Services = nil
	switch {
	case c.HasPrivateKey:
	case in.KeySource == KeyFromRequest:
		req, ev := requestKey(in, leaf)
		switch ev {
		case reqNotRead:
			// Not verified: predict with the key the admin states; the key
			// check says it was not checked.
			c.HasPrivateKey, c.Key, c.KeyDetail = true, certstore.KeyUsable, "key of the pending request on this server (as stated; the request store was not read)"
		case reqMissing:
			c.HasPrivateKey, c.Key, c.KeyDetail = false, certstore.KeyAbsent, "no pending request in "+in.Requests.URI+" holds its key: imported without a private key"
		case reqPresent:
			c.HasPrivateKey, c.Key, c.KeyDetail = true, certstore.KeyUsable, "key of the pending request "+req.Thumbprint+" in "+in.Requests.URI
		case reqKeyUnknown:
			c.HasPrivateKey, c.Key, c.KeyDetail = true, certstore.KeyUsable, "key of the pending request "+req.Thumbprint+" in "+in.Requests.URI+" (whether that key is still there is not known from that store)"
		default:
			c.HasPrivateKey, c.Key, c.KeyDetail = true, certstore.KeyUnusable, "the pending request "+req.Thumbprint+" in "+in.Requests.URI+" references a key that cannot be used"
			if req.KeyDetail != "" {
				c.KeyDetail += " (" + req.KeyDetail + ")"
			}
		}
	default:
		c.HasPrivateKey, c.Key, c.KeyDetail = false, certstore.KeyAbsent, "imported without a private key"
	}
	return c
}

// requestEvidence is what the request store says about a .cer's key.
type requestEvidence int

const (
	reqNone       requestEvidence = iota // the key is in the file, or not said to come from a request
	reqNotRead                           // the request store was not read
	reqMissing                           // read: no request with the certificate's public key
	reqPresent                           // a request with its public key and a usable key
	reqKeyUnknown                        // a request with its public key; the store does not say whether the key is there
	reqUnusable                          // a request with its public key whose key cannot be used
)

// requestKey finds the request store entry with the certificate's public
// key (the one Import-ExchangeCertificate pairs it with), preferring one
// with a usable key.
func requestKey(in Input, leaf certstore.Certificate) (certstore.Certificate, requestEvidence) {
	if in.KeySource != KeyFromRequest || leaf.HasPrivateKey {
		return certstore.Certificate{}, reqNone
	}
	if in.Requests == nil || in.Requests.Err != "" {
		return certstore.Certificate{}, reqNotRead
	}
	best, ev := certstore.Certificate{}, reqMissing
	for _, e := range in.Requests.Entries {
		if e.Cert == nil || !bytes.Equal(e.Cert.RawSubjectPublicKeyInfo, leaf.Cert.RawSubjectPublicKeyInfo) {
			continue
		}
		var this requestEvidence
		switch st := exchange.KeyStateOf(e); {
		case e.Key == certstore.KeyUnknown && e.HasPrivateKey:
			this = reqKeyUnknown
		case st == exchange.KeyOK || st == exchange.KeyUnreadable:
			// Who may read it does not matter yet: Enable-ExchangeCertificate
			// -Services SMTP grants NETWORK SERVICE read after the import.
			this = reqPresent
		default:
			this = reqUnusable
		}
		if ev == reqMissing || rank(this) > rank(ev) {
			best, ev = e, this
		}
	}
	return best, ev
}

func rank(e requestEvidence) int {
	switch e {
	case reqPresent:
		return 3
	case reqKeyUnknown:
		return 2
	case reqUnusable:
		return 1
	}
	return 0
}

// withImport appends the new certificate (a certificate added to a
// Windows store enumerates after the existing ones), replacing an entry
// with the same thumbprint.
func withImport(store []certstore.Certificate, c certstore.Certificate) []certstore.Certificate {
	out := make([]certstore.Certificate, 0, len(store)+1)
	for _, s := range store {
		if s.Thumbprint != c.Thumbprint {
			out = append(out, s)
		}
	}
	return append(out, c)
}

func without(store []certstore.Certificate, gone []certstore.Certificate) []certstore.Certificate {
	var out []certstore.Certificate
	for _, s := range store {
		if !slices.ContainsFunc(gone, func(g certstore.Certificate) bool { return g.Thumbprint == s.Thumbprint }) {
			out = append(out, s)
		}
	}
	return out
}

// replacedBy are the certificates the renewal retires: those some
// connector selects today and those sharing the new one's issuer and
// subject, never the new one itself nor a CA certificate.
func replacedBy(n certstore.Certificate, sels []exchange.Selection, store []certstore.Certificate) []certstore.Certificate {
	selected := map[string]bool{}
	for _, s := range sels {
		if s.Selected != "" {
			selected[s.Selected] = true
		}
		for _, b := range s.ByRule {
			if b.Thumbprint != "" {
				selected[b.Thumbprint] = true
			}
		}
	}
	id := exchange.TLSCertificateNameFor(n.Cert)
	var out []certstore.Certificate
	for _, c := range store {
		if c.Thumbprint == n.Thumbprint || c.Cert.IsCA {
			continue
		}
		same, _ := id.Matches(c.Cert)
		if selected[c.Thumbprint] || same {
			out = append(out, c)
		}
	}
	return out
}

// enabledForSMTP is the configuration after Enable-ExchangeCertificate
// -Services SMTP with the default SMTP certificate replaced (the plan's
// step): the internal transport certificate moves from a replaced
// certificate to the new one. Connector settings stay as they are, so the
// removal state shows what a TlsCertificateName that was not updated does.
func enabledForSMTP(cfg *exchange.Config, n certstore.Certificate, replaced []certstore.Certificate) *exchange.Config {
	c := *cfg
	cur := c.TransportService.InternalTransportCertificateThumbprint
	for _, r := range replaced {
		if cur != "" && strings.EqualFold(r.Thumbprint, cur) {
			c.TransportService.InternalTransportCertificateThumbprint = n.Thumbprint
		}
	}
	return &c
}

// diagnosis is what every round raises: connector and store findings.
func diagnosis(in Input, certs []certstore.Certificate) ([]*mxv1.Finding, error) {
	o := in.Diag
	if in.Config.Server.Fqdn != "" {
		o.Host = in.Config.Server.Fqdn
	}
	fs, err := certdiag.Connectors(in.Config, certs, o)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	contents := in.Store
	contents.Certificates = certs
	use, err := certdiag.TransportUseOf(in.Config, certs, o)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	return append(fs, certdiag.CertStoreFor(contents, use, o)...), nil
}

// stateOf collects a selection's choice and the findings at ERROR or
// above about the connector or the certificate it selects.
func stateOf(s exchange.Selection, fs []*mxv1.Finding) State {
	st := State{Selected: s.Selected, Rule: s.Rule, ByRule: s.ByRule}
	chosen := map[string]bool{}
	if s.Selected != "" {
		chosen[s.Selected] = true
	}
	for _, b := range s.ByRule {
		if b.Thumbprint != "" {
			chosen[b.Thumbprint] = true
		}
	}
	for _, f := range fs {
		if f.GetSeverity() < mxv1.Severity_SEVERITY_ERROR {
			continue
		}
		ev := f.GetEvidence()
		about := ev["connector"] == s.Connector && (ev["connector_kind"] == "" || ev["connector_kind"] == string(s.Kind))
		if !about && ev["connector"] == "" && chosen[ev["thumbprint"]] {
			about = true
		}
		if about && !slices.Contains(st.Codes, f.GetCode()) {
			st.Codes = append(st.Codes, f.GetCode())
		}
	}
	sort.Strings(st.Codes)
	return st
}

// transient codes are raised while old and new are both in the store; the
// duplicate-identity check reports them and the plan's removal ends them.
var transient = []string{"CONNECTOR_CERT_AMBIGUOUS", "CERT_DUPLICATE_IDENTITY"}

func outcome(c Connector) (Outcome, []string) {
	var added []string
	for i, st := range []State{c.Import, c.Removal} {
		for _, code := range st.Codes {
			if i == 0 && slices.Contains(transient, code) && len(c.Removal.Codes) == 0 {
				continue
			}
			if !slices.Contains(c.Today.Codes, code) && !slices.Contains(added, code) {
				added = append(added, code)
			}
		}
	}
	sort.Strings(added)
	// The end state decides between still-broken and fixed; the import
	// state in between keeps today's problems while the old one is used.
	switch {
	case len(added) > 0:
		return Breaks, added
	case len(c.Today.Codes) > 0 && len(c.Removal.Codes) > 0:
		return StillBroken, nil
	case len(c.Today.Codes) > 0:
		return Fixed, nil
	}
	return Works, nil
}

func roleOf(cfg *exchange.Config, s exchange.Selection) string {
	if s.Kind != exchange.KindReceive {
		return ""
	}
	for _, r := range cfg.ReceiveConnectors {
		if r.Name == s.Connector {
			return r.TransportRole
		}
	}
	return ""
}

func lookupText(s exchange.Selection) string {
	if s.LookupName == "" {
		return string(s.Basis)
	}
	return string(s.Basis) + " " + s.LookupName
}

func serverName(cfg *exchange.Config) string {
	if cfg.Server.Fqdn != "" {
		return cfg.Server.Fqdn
	}
	return cfg.Server.Name
}

func certInfo(c certstore.Certificate) CertInfo {
	n := exchange.TLSCertificateNameFor(c.Cert)
	return CertInfo{
		Thumbprint: c.Thumbprint, Subject: n.Subject, Issuer: n.Issuer,
		Names: exchange.CertificateNames(c.Cert), NotBefore: c.Cert.NotBefore.UTC(), NotAfter: c.Cert.NotAfter.UTC(),
		Key: exchange.KeyStateOf(c).String(), TLSCertificateName: n.String(),
	}
}
