package checks

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/report"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// writeSnapshot writes inv as a certstore snapshot file and returns its path.
func writeSnapshot(t *testing.T, inv certstore.Contents) string {
	t.Helper()
	var b bytes.Buffer
	if err := certread.WriteSnapshot(&b, inv); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(tempdir.New(t), "snap.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func allFindings(res []*mxv1.CheckResult) []*mxv1.Finding { return report.Findings(res) }

func explainedBy(f *mxv1.Finding, code finding.Code, subject string) bool {
	return slices.ContainsFunc(f.ExplainedBy, func(r *mxv1.FindingRef) bool { return r.Code == string(code) && r.Subject == subject })
}

// Class 3: the connector's certificate exists but NETWORK SERVICE cannot read
// its key (UnknownCredentials). CONNECTOR_CERT_NOT_FOUND says why the match
// is ineligible, fixes the key instead of "install the certificate", and is
// explained by CERT_KEY_NOT_ACCESSIBLE; the report counts one root cause and
// no unexplained error.
func TestConnectorCertNotFoundExplainedByUnreadableKey(t *testing.T) {
	ca := newCA(t)
	good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", ServerAuth: true, ClientAuth: true})
	no := false
	snap := writeSnapshot(t, certstore.Contents{Location: `windows:LocalMachine\My`, ReadAt: time.Now(), Certificates: []certstore.Certificate{{
		Thumbprint: good.Thumbprint(), Cert: good.Cert, HasPrivateKey: true, Key: certstore.KeyUsable, TransportCanReadKey: &no,
		Source: `windows:LocalMachine\My`, Sources: []string{`windows:LocalMachine\My`}, KeySource: "Microsoft Software Key Storage Provider",
	}}})
	cfg := exchangetest.SeedConfig(good.Cert, good.Thumbprint())
	cfg.SendConnectors = nil // the receive side alone
	inv := filepath.Join(tempdir.New(t), "inv.json")
	if err := checktest.WriteConfig(inv, cfg); err != nil {
		t.Fatal(err)
	}
	res := runSpec(t, Spec{CertStores: []string{"snapshot:" + snap}, ExchangeInventory: inv})
	fs := allFindings(res)
	nf := findingtest.Find(fs, finding.ConnectorCertNotFound)
	if nf == nil {
		t.Fatalf("no CONNECTOR_CERT_NOT_FOUND: %v", fs)
	}
	if !strings.Contains(nf.Summary, "none eligible") || !strings.Contains(nf.Summary, "NETWORK SERVICE") || strings.Contains(nf.Summary, "matches no certificate") {
		t.Errorf("summary %q does not say why the match is ineligible", nf.Summary)
	}
	if !strings.Contains(nf.Remediation, "Enable-ExchangeCertificate -Thumbprint "+good.Thumbprint()) || strings.Contains(nf.Remediation, "install") {
		t.Errorf("fix %q", nf.Remediation)
	}
	if !explainedBy(nf, finding.CertKeyNotAccessible, good.Thumbprint()) {
		t.Errorf("CONNECTOR_CERT_NOT_FOUND explained by %v, want CERT_KEY_NOT_ACCESSIBLE %s", nf.ExplainedBy, good.Thumbprint())
	}
	for _, f := range fs {
		if f.Severity >= mxv1.Severity_SEVERITY_ERROR && f.Code != string(finding.CertKeyNotAccessible) && len(f.ExplainedBy) == 0 {
			t.Errorf("unexplained %s %s %s: %s", f.Severity, f.Code, f.Subject, f.Summary)
		}
	}
	var table bytes.Buffer
	if err := report.WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "## root cause 1: CRITICAL CERT_KEY_NOT_ACCESSIBLE "+good.Thumbprint()) || strings.Contains(table.String(), "## root cause 2") {
		t.Errorf("table:\n%s", table.String())
	}
}
