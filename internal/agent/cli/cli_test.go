package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

type jsonFinding struct {
	Code     string            `json:"code"`
	Severity string            `json:"severity"`
	Subject  string            `json:"subject"`
	Evidence map[string]string `json:"evidence"`
	Remedy   string            `json:"remediation"`
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// The acceptance case of the walking skeleton: two certificates with the same
// subject and issuer, one with its key and one without; the keyless one is
// reported by its upper-case SHA-1 thumbprint as CERT_NO_PRIVATE_KEY.
func TestCheckReportsKeylessDuplicateAsJSON(t *testing.T) {
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := lab.WriteSeedStore(tempdir.New(t), ca, "edge02.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	// Keep only the two same-identity certificates (drop the expired one).
	for _, f := range []string{seed.Expired.CertFile, seed.Expired.KeyFile} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := run(t, "check", "--cert-store", "pemdir:"+seed.Dir, "--format", "json", "--hostname", "edge02.contoso.com")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (findings at error or above); stderr %s", code, stderr)
	}
	var fs []jsonFinding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	var keyless []jsonFinding
	for _, f := range fs {
		if f.Code == "CERT_NO_PRIVATE_KEY" {
			keyless = append(keyless, f)
		}
	}
	if len(keyless) != 1 {
		t.Fatalf("CERT_NO_PRIVATE_KEY findings = %+v, want exactly the duplicate", keyless)
	}
	f := keyless[0]
	if f.Subject != seed.KeylessDuplicate.Thumbprint || !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(f.Subject) {
		t.Fatalf("subject %q, want upper-case thumbprint %s", f.Subject, seed.KeylessDuplicate.Thumbprint)
	}
	if f.Severity != "SEVERITY_CRITICAL" || !strings.Contains(f.Remedy, seed.KeylessDuplicate.Thumbprint) || !strings.Contains(f.Remedy, "Remove-Item") {
		t.Fatalf("finding %+v lacks severity or an exact fix", f)
	}
	if f.Evidence["has_private_key"] != "false" {
		t.Fatalf("evidence %v", f.Evidence)
	}
	var dup bool
	for _, f := range fs {
		dup = dup || f.Code == "CERT_DUPLICATE_IDENTITY" && strings.Contains(f.Evidence["thumbprints"], seed.Good.Thumbprint)
	}
	if !dup {
		t.Fatal("no CERT_DUPLICATE_IDENTITY naming both certificates")
	}
}

func TestCheckHealthyStoreExitsZero(t *testing.T) {
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", DNSNames: []string{"mail.contoso.com"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := tempdir.New(t)
	key, err := is.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.crt"), is.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "check", "--cert-store", "pemdir:"+dir)
	if code != 0 {
		t.Fatalf("exit %d, out %s, stderr %s", code, out, stderr)
	}
	if !strings.Contains(out, "certstore pemdir:"+dir+": OK") || !strings.Contains(out, "0 findings from 1 check\n") {
		t.Fatalf("table output:\n%s", out)
	}
}

func TestCheckUsageErrorsExitOne(t *testing.T) {
	for name, args := range map[string][]string{
		"nothing to check": {"check"},
		"bad format":       {"check", "--cert-store", "pemdir:/nonexistent", "--format", "xml"},
		"bad scheme":       {"check", "--cert-store", "ftp:/x"},
		"bad probe":        {"check", "--probe", "smtp://"},
		"unknown flag":     {"check", "--frobnicate"},
	} {
		if code, _, _ := run(t, args...); code != 1 {
			t.Errorf("%s: exit %d, want 1", name, code)
		}
	}
}

func TestCheckProbesLabServer(t *testing.T) {
	ca, err := lab.NewCA("lab CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lab.Start(t.Context(), lab.NoStartTLS, lab.ServerOptions{Hostname: "edge03.contoso.test", CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	code, out, _ := run(t, "check", "--probe", "smtp://"+srv.Addr(), "--probe-timeout", "5s", "--format", "json")
	if code != 2 || !strings.Contains(out, `"SMTP_STARTTLS_NOT_OFFERED"`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// --certificates lists every certificate of the scanned store, the keyless
// duplicate marked, for an admin at a console.
func TestCheckListsCertificates(t *testing.T) {
	ca, err := lab.NewCA("Contoso Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := lab.WriteSeedStore(tempdir.New(t), ca, "edge02.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	_, out, stderr := run(t, "check", "--cert-store", "pemdir:"+seed.Dir, "--certificates", "--hostname", "edge02.contoso.com")
	if !strings.Contains(out, "3 certificates)") || !strings.Contains(out, "## certificates") {
		t.Fatalf("no listing:\n%s\n%s", out, stderr)
	}
	for _, e := range []lab.SeedEntry{seed.Good, seed.KeylessDuplicate, seed.Expired} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, e.Thumbprint) && !strings.Contains(l, "Remove-Item") && strings.Contains(l, "pemdir:") {
				line = l
			}
		}
		wantKey := "usable"
		if e.KeyFile == "" {
			wantKey = "NONE"
		}
		if line == "" || !strings.Contains(line, " "+wantKey+" ") || !strings.Contains(line, e.Cert.NotAfter.UTC().Format("2006-01-02")) {
			t.Errorf("%s: line %q (want key %s)", e.Thumbprint, line, wantKey)
		}
	}
}
