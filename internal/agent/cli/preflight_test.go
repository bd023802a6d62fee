package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// preflightServer writes an Edge server's store (today's certificate with
// its key, expiring in ten days) and inventory.
func preflightServer(t *testing.T) (dir string, ca *lab.CA, args []string) {
	t.Helper()
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	dir = tempdir.New(t)
	old, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true,
		NotBefore: time.Now().AddDate(-1, 0, 10), NotAfter: time.Now().AddDate(0, 0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	key, err := old.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(store, "mail.crt"), old.CertPEM())
	write(t, filepath.Join(store, "mail.key"), key)
	inv := filepath.Join(dir, "exchange-inventory.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(old.Cert, old.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	return dir, ca, []string{"preflight", "--cert-store", "pemdir:" + store, "--exchange-inventory", inv, "--hostname", "edge01.contoso.com"}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func renewal(t *testing.T, ca *lab.CA) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// A password-protected PFX of a same-identity renewal: nothing breaks
// (exit 0), JSON lists every connector using the new certificate after
// the removal of the old one.
func TestPreflightPFXRenewalWorks(t *testing.T) {
	dir, ca, args := preflightServer(t)
	n := renewal(t, ca)
	pfx, err := pkcs12.Modern.Encode(n.Key, n.Cert, n.Chain, "Renew-2026")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mail-2026.pfx")
	write(t, file, pfx)
	t.Setenv("MXPROBE_PFX_PASSWORD", "Renew-2026")
	code, out, stderr := run(t, append(args, "--new-cert", file, "--format", "json")...)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s\n%s", code, stderr, out)
	}
	var r struct {
		New        struct{ Thumbprint, Key string } `json:"new_certificate"`
		Connectors []struct {
			Name    string
			Outcome string
			Removal struct{ Selected string } `json:"after_removal"`
		}
		Breaks bool
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if r.New.Thumbprint != n.Thumbprint() || r.New.Key != "ok" || r.Breaks || len(r.Connectors) != 3 {
		t.Fatalf("report %+v\n%s", r, out)
	}
	for _, c := range r.Connectors {
		if c.Outcome != "works" || c.Removal.Selected != n.Thumbprint() {
			t.Errorf("connector %+v", c)
		}
	}
	if strings.Contains(out+stderr, "Renew-2026") {
		t.Error("the PFX password appears in the output")
	}
}

// A .cer without key: exit 2, the table names the break and the code; the
// same file as the answer to a request made on the server: exit 0.
func TestPreflightKeylessCerBreaks(t *testing.T) {
	dir, ca, args := preflightServer(t)
	n := renewal(t, ca)
	file := filepath.Join(dir, "mail-2026.cer")
	write(t, file, n.Cert.Raw)
	code, out, stderr := run(t, append(args, "--new-cert", file)...)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s\n%s", code, stderr, out)
	}
	for _, want := range []string{"CONNECTOR_SELECTS_KEYLESS_CERT", "breaks", "[FAIL] private-key", "Renewal plan:", "Import-ExchangeCertificate", "Verdict: SOMETHING BREAKS"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if code, out, stderr := run(t, append(args, "--new-cert", file, "--key-source", "request")...); code != 0 {
		t.Fatalf("--key-source request: exit %d; stderr %s\n%s", code, stderr, out)
	}
}

func TestPreflightUsageErrors(t *testing.T) {
	_, _, args := preflightServer(t)
	for name, a := range map[string][]string{
		"no new cert":    args,
		"bad key source": append(append([]string{}, args...), "--new-cert", "x.pem", "--key-source", "usb"),
		"missing file":   append(append([]string{}, args...), "--new-cert", filepath.Join(tempdir.New(t), "none.pfx")),
		"no inventory":   {"preflight", "--new-cert", "x.pem"},
	} {
		if code, _, stderr := run(t, a...); code != 1 || stderr == "" {
			t.Errorf("%s: exit %d (stderr %q), want 1 with a message", name, code, stderr)
		}
	}
}
