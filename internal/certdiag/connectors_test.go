package certdiag

import (
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// storeCert builds a store entry from a lab certificate.
func storeCert(is *lab.Issued, key certstore.KeyStatus) certstore.Certificate {
	return certstore.Certificate{Thumbprint: is.Thumbprint(), Cert: is.Cert, HasPrivateKey: key != certstore.KeyAbsent, Key: key, Source: "test"}
}

func TestConnectorRulesSeedStore(t *testing.T) {
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: time.Now().AddDate(0, 0, -30)})
	dup, _ := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: time.Now().AddDate(0, 0, -2)})
	// Keyless duplicate enumerated first, as in the seed incident.
	certs := []certstore.Certificate{storeCert(dup, certstore.KeyAbsent), storeCert(good, certstore.KeyUsable)}
	inv := exchangetest.SeedConfig(good.Cert, good.Thumbprint())
	fs, err := Connectors(inv, certs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := findingtest.Find(fs, finding.ConnectorSelectsKeyless)
	if k == nil || k.Subject != "Outbound to Office 365" || k.Evidence["selected_thumbprint"] != dup.Thumbprint() ||
		!strings.Contains(k.Remediation, dup.Thumbprint()) || k.Severity != mxv1.Severity_SEVERITY_CRITICAL {
		t.Fatalf("keyless selection: %v", k)
	}
	a := findingtest.Find(fs, finding.ConnectorCertAmbiguous)
	if a == nil || !strings.Contains(a.Remediation, "keep "+good.Thumbprint()) {
		t.Fatalf("ambiguous: %v", a)
	}
	exp, err := Expectations(inv, certs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := exp.Lookup("outbound to office 365"); !ok || e.Thumbprint != good.Thumbprint() || e.Selected != dup.Thumbprint() {
		t.Fatalf("expectation %+v", e)
	}
	// Only the good certificate: no connector findings at all.
	fs, _ = Connectors(inv, certs[1:], Options{})
	if len(fs) != 0 {
		t.Fatalf("healthy inventory: %v", findingtest.Codes(fs))
	}
}
