package certdiag

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// TransportUse says which certificates of a store Exchange transport could
// select: the candidates of every connector's lookup and the internal
// transport certificate (SimulateSelection). Without an Exchange
// configuration Known is false and nothing is assumed either way.
type TransportUse struct {
	Known bool
	// By maps a candidate's thumbprint to the connectors (ConnectorSubject
	// spelling, or exchange.InternalTransportName) whose lookup matches it.
	By map[string][]string
}

// TransportUseOf computes a TransportUse from a configuration and the store
// transport reads (in enumeration order).
func TransportUseOf(cfg *exchange.Config, certs []certstore.Certificate, o Options) (TransportUse, error) {
	o = o.WithDefaults()
	sels, err := exchange.SimulateSelection(cfg, certs, exchange.SelectOptions{Now: o.Now})
	if err != nil {
		return TransportUse{}, fmt.Errorf("certdiag: transport use: %w", err)
	}
	u := TransportUse{Known: true, By: map[string][]string{}}
	for _, s := range sels {
		name := ConnectorSubject(s.Kind, cfg.Server.Name, s.Connector)
		for _, tp := range s.CandidateThumbprints() {
			if !slices.Contains(u.By[tp], name) {
				u.By[tp] = append(u.By[tp], name)
			}
		}
	}
	return u, nil
}

// candidate reports whether transport could select tp ("true", "false" or
// "unknown") and by which connectors.
func (u TransportUse) candidate(tp string) (string, []string) {
	if !u.Known {
		return "unknown", nil
	}
	by := u.By[thumbprint.Normalize(tp)]
	return fmt.Sprint(len(by) > 0), by
}

// CertStore diagnoses every certificate of a store without knowing the
// Exchange configuration (see CertStoreFor).
func CertStore(inv certstore.Contents, o Options) []*mxv1.Finding {
	return CertStoreFor(inv, TransportUse{}, o)
}

// CertStoreFor diagnoses every certificate of a store. A CA certificate
// (basicConstraints CA:TRUE) is never a transport certificate: it gets at
// most an informational finding. An end-entity certificate's findings are
// as severe as the catalog says when transport could select it; when the
// configuration shows no connector would, they are informational (key) or
// warnings (validity); when the configuration is unknown a missing or
// unreadable key is a warning that says what to check, unless a twin with
// the same issuer and subject has a usable key (the seed incident: a
// connector naming that identity may pick the keyless one), which keeps the
// catalog's severity.
func CertStoreFor(inv certstore.Contents, use TransportUse, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	var out []*mxv1.Finding
	if len(inv.Certificates) == 0 {
		out = append(out, storeEmpty(inv, o))
	}
	for _, c := range inv.Certificates {
		ev := CertEvidence(c.Cert, c.Thumbprint)
		ev["origin"] = "store"
		ev["store"] = inv.Location
		if c.Source != "" {
			ev["source"] = c.Source
		}
		ev["has_private_key"] = fmt.Sprint(c.HasPrivateKey)
		ev["key_status"] = c.Key.String()
		if c.Cert.IsCA {
			out = append(out, caInStore(c, inv, ev, o))
			continue
		}
		cand, by := use.candidate(c.Thumbprint)
		ev["transport_candidate"] = cand
		if len(by) > 0 {
			ev["selected_by"] = strings.Join(by, ",")
		}
		kf := keyFindings(c, ev, o)
		vf := CertValidity(c.Cert, c.Thumbprint, ev, o)
		expiredWithRenewal(c, inv, vf, o)
		switch cand {
		case "false":
			for _, f := range kf {
				f.Severity = mxv1.Severity_SEVERITY_INFO
				f.Summary += "; no connector and not the internal transport certificate would select it, so mail flow does not depend on it"
				f.Remediation = "No action needed for mail flow: transport cannot select this certificate (its names match no connector's Fqdn or TlsCertificateName). Remove it only if nothing else on the server uses it."
			}
			for _, f := range vf {
				f.Severity = min(f.Severity, mxv1.Severity_SEVERITY_WARNING)
				f.Summary += "; no connector would select it"
				f.Remediation = fmt.Sprintf("Mail flow does not depend on it: no connector and not the internal transport certificate would select it, so it needs no SMTP binding and no connector change. Handle it for whatever else uses it%s, or remove it if nothing does.", servicesNote(c))
			}
		case "unknown":
			if !smtpBound(c) {
				// Nothing read says transport uses it (no connector
				// configuration, no SMTP binding): say what is known and
				// what to check, not how to reconfigure transport.
				for _, f := range vf {
					f.Severity = min(f.Severity, mxv1.Severity_SEVERITY_WARNING)
					f.Summary += "; whether transport uses it is not known (connectors not read" + servicesNote(c) + ")"
					f.Remediation = fmt.Sprintf("Check whether SMTP uses it: Get-ExchangeCertificate -Thumbprint %s | fl Services ; Get-SendConnector, Get-ReceiveConnector | fl Name,Fqdn,TlsCertificateName (or run the agent with the Exchange configuration). If SMTP uses it: %s If not, it does not affect mail flow: handle it for the service that uses it and leave transport as it is.", c.Thumbprint, f.Remediation)
				}
			}
			if hasKeyedTwin(c, inv) {
				// The seed incident's shape: whatever connector names this
				// issuer and subject may pick the keyless twin.
				for _, f := range kf {
					f.Evidence["keyed_twin"] = "true"
				}
				break
			}
			for _, f := range kf {
				f.Severity = mxv1.Severity_SEVERITY_WARNING
				f.Summary += "; whether transport could select it depends on the connectors (not read)"
				f.Remediation = fmt.Sprintf("Check whether a connector names this certificate: Get-SendConnector, Get-ReceiveConnector | fl Name,Fqdn,TlsCertificateName (or run the agent with the Exchange configuration). If one does: %s", f.Remediation)
			}
		}
		out = append(out, kf...)
		out = append(out, vf...)
	}
	out = append(out, duplicateIdentities(inv, o)...)
	for _, p := range inv.Problems {
		out = append(out, finding.New(finding.CertEntryUnreadable, mxv1.SubjectKind_SUBJECT_KIND_LOCATION, p.Source,
			fmt.Sprintf("Cannot read %s: %v", p.Source, p.Err),
			map[string]string{"store": inv.Location, "error": p.Err.Error()},
			fmt.Sprintf("Replace or remove %s, or configure the password it needs.", p.Source)))
	}
	finding.Sort(out)
	return out
}

// smtpBound reports whether the store says the certificate is bound to
// Exchange's SMTP service (Get-ExchangeCertificate's Services).
func smtpBound(c certstore.Certificate) bool {
	return slices.ContainsFunc(c.Services, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "SMTP") })
}

// servicesNote is ", Exchange services: IIS, POP" when the store lists the
// certificate's services, else "".
func servicesNote(c certstore.Certificate) string {
	if len(c.Services) == 0 {
		return ""
	}
	return ", Exchange services: " + strings.Join(c.Services, ", ")
}

// hasKeyedTwin reports whether another certificate of the store has c's
// issuer and subject and a key transport could use: a TlsCertificateName
// naming that identity matches both, and older builds take the first.
func hasKeyedTwin(c certstore.Certificate, inv certstore.Contents) bool {
	return slices.ContainsFunc(inv.Certificates, func(o certstore.Certificate) bool {
		return o.Thumbprint != c.Thumbprint && o.Cert != nil && !o.Cert.IsCA && exchange.KeyStateOf(o).Usable() &&
			string(o.Cert.RawIssuer) == string(c.Cert.RawIssuer) && string(o.Cert.RawSubject) == string(c.Cert.RawSubject)
	})
}

// personalStore reports a Windows personal store (or a snapshot of one).
func personalStore(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "windows:") || strings.HasSuffix(l, `\my`) || strings.Contains(l, "cert:")
}

// caInStore: a CA certificate kept with the server certificates. Transport
// never presents it; the only thing to say is where it belongs.
func caInStore(c certstore.Certificate, inv certstore.Contents, ev map[string]string, o Options) *mxv1.Finding {
	fix := "Nothing to do for mail flow: a CA certificate next to the server certificates serves as chain material."
	if personalStore(inv.Location) {
		fix = fmt.Sprintf("Optional tidy-up on %s: a CA certificate belongs in the Intermediate Certification Authorities store (LocalMachine\\CA) or, for a root, in Trusted Root Certification Authorities; transport never selects it from My.", o.Host)
	}
	return finding.New(finding.CertCANotTransport, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
		fmt.Sprintf("CA certificate %s (%s) is in %s; transport never presents a CA certificate, so its key and validity do not affect mail flow", c.Thumbprint, DisplayName(c.Cert), inv.Location),
		ev, fix)
}

// storeEmpty: reading a store that yields nothing is not "healthy".
func storeEmpty(inv certstore.Contents, o Options) *mxv1.Finding {
	ev := map[string]string{"store": inv.Location, "unreadable_entries": fmt.Sprint(len(inv.Problems))}
	detail := text.CountAs(len(inv.Problems), "unreadable entry", "unreadable entries")
	if inv.Examined > 0 {
		ev["entries_examined"] = fmt.Sprint(inv.Examined)
		detail = fmt.Sprintf("%s examined, %d unreadable", text.CountAs(inv.Examined, "entry", "entries"), len(inv.Problems))
	}
	return finding.New(finding.CertStoreEmpty, mxv1.SubjectKind_SUBJECT_KIND_LOCATION, inv.Location,
		fmt.Sprintf("Certificate store %s on %s yielded no certificate (%s): nothing was checked", inv.Location, o.Host, detail), ev,
		fmt.Sprintf("Check that %s is the store transport reads (windows:LocalMachine\\My on the Exchange server, or the directory or snapshot copied from it) and that its files are PEM, DER or PKCS#12 certificates (or an Export-Clixml of Get-ChildItem Cert:\\LocalMachine\\My).", inv.Location))
}

// expiredWithRenewal: when c is expired and a valid renewal (same subject or
// a shared DNS name, later NotAfter, currently valid, usable key) is in the
// same store, the CERT_EXPIRED fix is to unbind and remove the old one, not
// to renew. Returns the renewal's thumbprint ("" when none).
func expiredWithRenewal(c certstore.Certificate, inv certstore.Contents, vf []*mxv1.Finding, o Options) string {
	var expired *mxv1.Finding
	for _, f := range vf {
		if f.Code == string(finding.CertExpired) {
			expired = f
		}
	}
	if expired == nil {
		return ""
	}
	var best *certstore.Certificate
	for i := range inv.Certificates {
		r := &inv.Certificates[i]
		if r.Cert == nil || r.Cert.IsCA || r.Thumbprint == c.Thumbprint || !exchange.KeyStateOf(*r).Usable() ||
			!r.Cert.NotAfter.After(c.Cert.NotAfter) || r.Cert.NotBefore.After(o.Now) || !r.Cert.NotAfter.After(o.Now) {
			continue
		}
		same := string(r.Cert.RawSubject) == string(c.Cert.RawSubject)
		for _, n := range c.Cert.DNSNames {
			same = same || slices.ContainsFunc(r.Cert.DNSNames, func(m string) bool { return strings.EqualFold(m, n) })
		}
		if same && (best == nil || r.Cert.NotAfter.After(best.Cert.NotAfter)) {
			best = r
		}
	}
	if best == nil {
		return ""
	}
	expired.Evidence["renewal_thumbprint"] = best.Thumbprint
	expired.Summary += fmt.Sprintf("; its renewal %s (valid until %s, with its key) is already in the store", best.Thumbprint, best.Cert.NotAfter.UTC().Format(time.DateOnly))
	expired.Remediation = fmt.Sprintf("Do not renew: renewal %s is already installed. On %s bind the renewal and remove the expired certificate: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP ; update TlsCertificateName on connectors that name the old issuer ($c = Get-ChildItem Cert:\\LocalMachine\\My\\%s ; Set-SendConnector/Set-ReceiveConnector -TlsCertificateName \"<I>$($c.Issuer)<S>$($c.Subject)\") ; then Remove-ExchangeCertificate -Thumbprint %s (or Get-ChildItem Cert:\\LocalMachine\\My\\%s | Remove-Item) and Restart-Service MSExchangeTransport.",
		best.Thumbprint, o.Host, best.Thumbprint, best.Thumbprint, c.Thumbprint, c.Thumbprint)
	return best.Thumbprint
}

func keyFindings(c certstore.Certificate, ev map[string]string, o Options) []*mxv1.Finding {
	name := DisplayName(c.Cert)
	switch {
	case !c.HasPrivateKey || c.Key == certstore.KeyAbsent:
		return []*mxv1.Finding{finding.New(finding.CertNoPrivateKey, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("Certificate %s (%s) on %s has no private key", c.Thumbprint, name, o.Host), ev,
			fmt.Sprintf("On %s remove it: Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq '%s' | Remove-Item ; then Restart-Service MSExchangeTransport and Retry-Queue.", o.Host, c.Thumbprint))}
	case c.Key == certstore.KeyUnusable:
		ev = finding.WithKV(ev, "key_detail", c.KeyDetail)
		return []*mxv1.Finding{finding.New(finding.CertKeyNotAccessible, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("Private key of certificate %s (%s) on %s cannot be used: %s", c.Thumbprint, name, o.Host, text.OrDash(c.KeyDetail)), ev,
			fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (grants NETWORK SERVICE read access), or re-import the certificate with its key from the PFX.", o.Host, c.Thumbprint))}
	case c.TransportCanReadKey != nil && !*c.TransportCanReadKey:
		ev = finding.WithKV(ev, "transport_can_read_key", "false")
		return []*mxv1.Finding{finding.New(finding.CertKeyNotAccessible, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("NETWORK SERVICE cannot read the private key of certificate %s (%s) on %s", c.Thumbprint, name, o.Host), ev,
			fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP", o.Host, c.Thumbprint))}
	}
	return nil
}

// PresentedChain diagnoses the chain a server presented (leaf first).
func PresentedChain(chain []*x509.Certificate, endpoint string, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	if len(chain) == 0 {
		return nil
	}
	leaf := chain[0]
	tp := thumbprint.Of(leaf)
	ev := CertEvidence(leaf, tp)
	ev["origin"] = "presented"
	ev["endpoint"] = endpoint
	return CertValidity(leaf, tp, ev, o)
}

// CertValidity is the findings a certificate raises by itself, wherever it
// was found (a store, a presented chain): expiry, not-yet-valid, weak key,
// weak signature, self-signed. ev is its evidence (CertEvidence plus where).
func CertValidity(c *x509.Certificate, tp string, ev map[string]string, o Options) []*mxv1.Finding {
	var out []*mxv1.Finding
	name := DisplayName(c)
	host := o.Host
	if ev["origin"] == "presented" {
		host = ev["endpoint"]
	}
	renew := fmt.Sprintf("Renew certificate %s (%s), install it with its private key on %s, Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, update TlsCertificateName on its connectors, and remove the old one.", tp, name, host)
	switch left := c.NotAfter.Sub(o.Now); {
	case left <= 0:
		out = append(out, finding.New(finding.CertExpired, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) expired %s ago", tp, name, roundDays(-left)), ev, renew))
	case left <= o.ExpiryWarning:
		f := finding.New(finding.CertExpiring, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) expires in %s", tp, name, roundDays(left)), finding.WithKV(ev, "expires_in_days", fmt.Sprint(int(left.Hours()/24))), renew)
		if left <= o.ExpiryError {
			f.Severity = mxv1.Severity_SEVERITY_ERROR
		}
		out = append(out, f)
	}
	if c.NotBefore.After(o.Now) {
		out = append(out, finding.New(finding.CertNotYetValid, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) is not valid before %s", tp, name, c.NotBefore.UTC().Format(time.RFC3339)), ev,
			fmt.Sprintf("Check the clock on %s, or reissue certificate %s with a NotBefore in the past.", host, tp)))
	}
	if bits, weak := weakKey(c); weak {
		out = append(out, finding.New(finding.CertWeakKey, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) has a weak %d-bit key", tp, name, bits), finding.WithKV(ev, "key_bits", fmt.Sprint(bits)),
			fmt.Sprintf("Reissue certificate %s with RSA 2048+ or ECDSA P-256+.", tp)))
	}
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.MD5WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD2WithRSA:
		if !exchange.IsSelfSigned(c) { // a root's self-signature is not checked by anyone
			out = append(out, finding.New(finding.CertWeakSignature, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
				fmt.Sprintf("Certificate %s (%s) is signed with %s", tp, name, c.SignatureAlgorithm), ev,
				fmt.Sprintf("Reissue certificate %s with a SHA-256 signature.", tp)))
		}
	}
	if exchange.IsSelfSigned(c) && !c.IsCA {
		out = append(out, finding.New(finding.CertSelfSigned, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) is self-signed", tp, name), ev,
			fmt.Sprintf("Do not use %s for hybrid or Internet mail: install a CA-issued certificate and set TlsCertificateName on the connectors.", tp)))
	}
	return out
}

// duplicateIdentities reports several certificates with the same issuer and subject.
func duplicateIdentities(inv certstore.Contents, o Options) []*mxv1.Finding {
	groups := map[string][]certstore.Certificate{}
	for _, c := range inv.Certificates {
		if c.Cert.IsCA {
			continue // transport never selects a CA certificate
		}
		k := string(c.Cert.RawIssuer) + "\x00" + string(c.Cert.RawSubject)
		groups[k] = append(groups[k], c)
	}
	var out []*mxv1.Finding
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		sort.Slice(g, func(i, j int) bool { return g[i].Thumbprint < g[j].Thumbprint })
		var tps, keyless []string
		for _, c := range g {
			tps = append(tps, c.Thumbprint)
			if !c.HasPrivateKey || c.Key != certstore.KeyUsable && c.Key != certstore.KeyUnknown {
				keyless = append(keyless, c.Thumbprint)
			}
		}
		subject := identity(g[0].Cert)
		f := finding.New(finding.CertDuplicateIdentity, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, subject,
			fmt.Sprintf("%d certificates on %s share issuer and subject %s", len(g), o.Host, DisplayName(g[0].Cert)),
			map[string]string{"store": inv.Location, "thumbprints": strings.Join(tps, ","), "issuer": g[0].Cert.Issuer.String(), "subject": g[0].Cert.Subject.String(), "without_usable_key": strings.Join(keyless, ",")},
			fmt.Sprintf("Keep one certificate for %s on %s: remove the others (Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq THUMBPRINT | Remove-Item), starting with those without a usable key (%s), then Restart-Service MSExchangeTransport.", DisplayName(g[0].Cert), o.Host, text.OrDash(strings.Join(keyless, ","))))
		if len(keyless) > 0 {
			f.Severity = mxv1.Severity_SEVERITY_ERROR
		}
		out = append(out, f)
	}
	return out
}

// CertEvidence is the evidence every certificate finding carries.
func CertEvidence(c *x509.Certificate, tp string) map[string]string {
	return map[string]string{
		"thumbprint": tp,
		"subject":    c.Subject.String(),
		"issuer":     c.Issuer.String(),
		"serial":     fmt.Sprintf("%X", c.SerialNumber),
		"not_before": c.NotBefore.UTC().Format(time.RFC3339),
		"not_after":  c.NotAfter.UTC().Format(time.RFC3339),
		"dns_names":  strings.Join(c.DNSNames, ","),
	}
}

// identity is the issuer+subject identity in Exchange's TlsCertificateName form.
func identity(c *x509.Certificate) string {
	return "<I>" + c.Issuer.String() + "<S>" + c.Subject.String()
}

// DisplayName names a certificate in a summary: CN=..., else its subject.
func DisplayName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}

func weakKey(c *x509.Certificate) (int, bool) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen(), k.N.BitLen() < 2048
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize, k.Curve.Params().BitSize < 256
	}
	return 0, false
}

func roundDays(d time.Duration) string {
	days := int(d.Hours() / 24)
	if days >= 1 {
		return fmt.Sprintf("%d days", days)
	}
	return d.Round(time.Minute).String()
}
