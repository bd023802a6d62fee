package diagnose

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// CertStore diagnoses every certificate of a store inventory.
func CertStore(inv certstore.Inventory, o Options) []*mxv1.Finding {
	o = o.withDefaults()
	var out []*mxv1.Finding
	for _, c := range inv.Certificates {
		ev := certEvidence(c.Cert, c.Thumbprint)
		ev["origin"] = "store"
		ev["store"] = inv.Location
		if c.Source != "" {
			ev["source"] = c.Source
		}
		ev["has_private_key"] = fmt.Sprint(c.HasPrivateKey)
		ev["key_status"] = c.Key.String()
		out = append(out, keyFindings(c, ev, o)...)
		out = append(out, certValidity(c.Cert, c.Thumbprint, ev, o)...)
	}
	out = append(out, duplicateIdentities(inv, o)...)
	for _, p := range inv.Problems {
		out = append(out, newFinding(finding.CertEntryUnreadable, mxv1.SubjectKind_SUBJECT_KIND_LOCATION, p.Source,
			fmt.Sprintf("Cannot read %s: %v", p.Source, p.Err),
			map[string]string{"store": inv.Location, "error": p.Err.Error()},
			fmt.Sprintf("Replace or remove %s, or configure the password it needs.", p.Source)))
	}
	sortFindings(out)
	return out
}

func keyFindings(c certstore.Certificate, ev map[string]string, o Options) []*mxv1.Finding {
	name := displayName(c.Cert)
	switch {
	case !c.HasPrivateKey || c.Key == certstore.KeyAbsent:
		return []*mxv1.Finding{newFinding(finding.CertNoPrivateKey, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("Certificate %s (%s) on %s has no private key", c.Thumbprint, name, o.Host), ev,
			fmt.Sprintf("On %s remove it: Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq '%s' | Remove-Item ; then Restart-Service MSExchangeTransport and Retry-Queue.", o.Host, c.Thumbprint))}
	case c.Key == certstore.KeyUnusable:
		ev = withKV(ev, "key_detail", c.KeyDetail)
		return []*mxv1.Finding{newFinding(finding.CertKeyNotAccessible, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("Private key of certificate %s (%s) on %s cannot be used: %s", c.Thumbprint, name, o.Host, orDash(c.KeyDetail)), ev,
			fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (grants NETWORK SERVICE read access), or re-import the certificate with its key from the PFX.", o.Host, c.Thumbprint))}
	case c.TransportCanReadKey != nil && !*c.TransportCanReadKey:
		ev = withKV(ev, "transport_can_read_key", "false")
		return []*mxv1.Finding{newFinding(finding.CertKeyNotAccessible, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, c.Thumbprint,
			fmt.Sprintf("NETWORK SERVICE cannot read the private key of certificate %s (%s) on %s", c.Thumbprint, name, o.Host), ev,
			fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP", o.Host, c.Thumbprint))}
	}
	return nil
}

// PresentedChain diagnoses the chain a server presented (leaf first).
func PresentedChain(chain []*x509.Certificate, endpoint string, o Options) []*mxv1.Finding {
	o = o.withDefaults()
	if len(chain) == 0 {
		return nil
	}
	leaf := chain[0]
	tp := finding.Thumbprint(leaf)
	ev := certEvidence(leaf, tp)
	ev["origin"] = "presented"
	ev["endpoint"] = endpoint
	return certValidity(leaf, tp, ev, o)
}

// certValidity: expiry, not-yet-valid, weak key, weak signature, self-signed.
func certValidity(c *x509.Certificate, tp string, ev map[string]string, o Options) []*mxv1.Finding {
	var out []*mxv1.Finding
	name := displayName(c)
	host := o.Host
	if ev["origin"] == "presented" {
		host = ev["endpoint"]
	}
	renew := fmt.Sprintf("Renew certificate %s (%s), install it with its private key on %s, Enable-ExchangeCertificate -Thumbprint NEW -Services SMTP, update TlsCertificateName on its connectors, and remove the old one.", tp, name, host)
	switch left := c.NotAfter.Sub(o.Now); {
	case left <= 0:
		out = append(out, newFinding(finding.CertExpired, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) expired %s ago", tp, name, roundDays(-left)), ev, renew))
	case left <= o.ExpiryWarning:
		f := newFinding(finding.CertExpiring, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) expires in %s", tp, name, roundDays(left)), withKV(ev, "expires_in_days", fmt.Sprint(int(left.Hours()/24))), renew)
		if left <= o.ExpiryError {
			f.Severity = mxv1.Severity_SEVERITY_ERROR
		}
		out = append(out, f)
	}
	if c.NotBefore.After(o.Now) {
		out = append(out, newFinding(finding.CertNotYetValid, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) is not valid before %s", tp, name, c.NotBefore.UTC().Format(time.RFC3339)), ev,
			fmt.Sprintf("Check the clock on %s, or reissue certificate %s with a NotBefore in the past.", host, tp)))
	}
	if bits, weak := weakKey(c); weak {
		out = append(out, newFinding(finding.CertWeakKey, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) has a weak %d-bit key", tp, name, bits), withKV(ev, "key_bits", fmt.Sprint(bits)),
			fmt.Sprintf("Reissue certificate %s with RSA 2048+ or ECDSA P-256+.", tp)))
	}
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.MD5WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD2WithRSA:
		if !isSelfSigned(c) { // a root's self-signature is not checked by anyone
			out = append(out, newFinding(finding.CertWeakSignature, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
				fmt.Sprintf("Certificate %s (%s) is signed with %s", tp, name, c.SignatureAlgorithm), ev,
				fmt.Sprintf("Reissue certificate %s with a SHA-256 signature.", tp)))
		}
	}
	if isSelfSigned(c) && !c.IsCA {
		out = append(out, newFinding(finding.CertSelfSigned, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tp,
			fmt.Sprintf("Certificate %s (%s) is self-signed", tp, name), ev,
			fmt.Sprintf("Do not use %s for hybrid or Internet mail: install a CA-issued certificate and set TlsCertificateName on the connectors.", tp)))
	}
	return out
}

// duplicateIdentities reports several certificates with the same issuer and subject.
func duplicateIdentities(inv certstore.Inventory, o Options) []*mxv1.Finding {
	groups := map[string][]certstore.Certificate{}
	for _, c := range inv.Certificates {
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
		f := newFinding(finding.CertDuplicateIdentity, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, subject,
			fmt.Sprintf("%d certificates on %s share issuer and subject %s", len(g), o.Host, displayName(g[0].Cert)),
			map[string]string{"store": inv.Location, "thumbprints": strings.Join(tps, ","), "issuer": g[0].Cert.Issuer.String(), "subject": g[0].Cert.Subject.String(), "without_usable_key": strings.Join(keyless, ",")},
			fmt.Sprintf("Keep one certificate for %s on %s: remove the others (Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq THUMBPRINT | Remove-Item), starting with those without a usable key (%s), then Restart-Service MSExchangeTransport.", displayName(g[0].Cert), o.Host, orDash(strings.Join(keyless, ","))))
		if len(keyless) > 0 {
			f.Severity = mxv1.Severity_SEVERITY_ERROR
		}
		out = append(out, f)
	}
	return out
}

func certEvidence(c *x509.Certificate, tp string) map[string]string {
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

func displayName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}

func isSelfSigned(c *x509.Certificate) bool {
	if string(c.RawIssuer) != string(c.RawSubject) {
		return false
	}
	// CheckSignatureFrom would refuse a non-CA parent, and a self-signed
	// leaf (Exchange's default CN=SERVER certificate) is not a CA.
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// StoreUnreadable is the finding for a store that could not be opened or read.
func StoreUnreadable(uri string, err error, o Options) *mxv1.Finding {
	o = o.withDefaults()
	return newFinding(finding.CertStoreUnreadable, mxv1.SubjectKind_SUBJECT_KIND_LOCATION, uri,
		fmt.Sprintf("Certificate store %s on %s cannot be read: %s", uri, o.Host, clip(errText(err), 200)),
		map[string]string{"store": uri, "error": clip(errText(err), 500)},
		fmt.Sprintf("Check that %s exists on %s and that the agent's account may read it (for windows: stores, run the agent as LocalSystem).", uri, o.Host))
}
