package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/lab/dnslab"
	"github.com/mxprobe/mxprobe/internal/preflight"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// TlsSenderCertificateName read from the inventory's Exchange Online
// inbound connector (no flag): a value the new certificate lacks fails and
// the output names the connector export as its source; the flag overrides
// it. Without the export the check is "not checked", and the verdict says
// so.
func TestPreflightSenderNameFromInventory(t *testing.T) {
	dir, ca, args := preflightServer(t)
	n := renewal(t, ca)
	key, err := n.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mail-2026.pem")
	write(t, file, append(n.CertPEM(), key...))
	code, out, stderr := run(t, append(args, "--new-cert", file)...)
	if code != 0 || !strings.Contains(out, "[NOT-CHECKED] name-coverage: not checked: Exchange Online inbound connector TlsSenderCertificateName") ||
		!strings.Contains(out, "TlsSenderCertificateName: not read:") || !strings.Contains(out, "check(s) not done") {
		t.Fatalf("without export: exit %d, stderr %s\n%s", code, stderr, out)
	}
	inv := args[len(args)-3]
	cfg, err := exchcollect.LoadConfigFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InboundConnectors = []exchange.InboundConnector{{Name: "Inbound from 2f1e0c55", Enabled: true, ConnectorType: "OnPremises", TlsSenderCertificateName: "smtp.contoso.com"}}
	if err := checktest.WriteConfig(inv, cfg); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, append(args, "--new-cert", file)...)
	if code != 2 || !strings.Contains(out, "[FAIL] name-coverage: Exchange Online inbound connector Inbound from 2f1e0c55 TlsSenderCertificateName smtp.contoso.com (connector export") ||
		!strings.Contains(out, "TlsSenderCertificateName Inbound from 2f1e0c55: smtp.contoso.com, connector export") {
		t.Fatalf("inventory value: exit %d, stderr %s\n%s", code, stderr, out)
	}
	code, out, stderr = run(t, append(args, "--new-cert", file, "--tls-sender-certificate-name", "mail.contoso.com", "--format", "json")...)
	var r preflight.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("override: exit %d %v, stderr %s\n%s", code, err, stderr, out)
	}
	found := false
	for _, in := range r.Inputs {
		if strings.HasPrefix(in.Input, "TlsSenderCertificateName") {
			found = in.Origin == preflight.FromFlag && in.Value == "mail.contoso.com"
			if in.Origin == preflight.FromInventory {
				t.Errorf("inventory value used despite the override: %+v", in)
			}
		}
	}
	if !found {
		t.Errorf("override not listed as the flag's: %+v", r.Inputs)
	}
}

// The MTA-STS policies preflight fetches for the mail domains, against the
// DNSSEC lab and a real HTTPS policy host: a domain with a policy (mode and
// mx patterns, the URL as source), one without a record, one whose policy
// host presents a certificate that does not verify (an error, so the check
// is not done).
func TestPreflightFetchesMTASTSPolicies(t *testing.T) {
	if err := dnslab.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ca, err := lab.NewCA("policy host CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.NewCA("untrusted CA")
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]tls.Certificate{}
	for h, c := range map[string]*lab.CA{"mta-sts.contoso.test": ca, "mta-sts.badpki.test": other} {
		is, err := c.Issue(lab.IssueOptions{CommonName: h, ServerAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		certs[h] = is.TLSCertificate()
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := hl.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "version: STSv1\nmode: enforce\nmx: *.contoso.test\nmx: mail.contoso.test\nmax_age: 604800\n")
	}), TLSConfig: &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := certs[hi.ServerName]
		return &c, nil
	}}}
	go srv.ServeTLS(hl, "", "")
	defer srv.Close()
	l, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{
		{Origin: "contoso.test", Records: []string{"contoso.test. IN MX 10 mail.contoso.test.", "_mta-sts.contoso.test. IN TXT \"v=STSv1; id=20261202\"", "mta-sts.contoso.test. IN A 127.0.0.1"}},
		{Origin: "fabrikam.test", Records: []string{"fabrikam.test. IN MX 10 mail.fabrikam.test."}},
		{Origin: "badpki.test", Records: []string{"_mta-sts.badpki.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.badpki.test. IN A 127.0.0.1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := resolve.New(l.Resolver)
	if err != nil {
		t.Fatal(err)
	}
	got := mtastsPolicies(ctx, r, []string{"contoso.test", "Fabrikam.test.", "badpki.test"}, ca.Pool(), port)
	if len(got) != 3 {
		t.Fatalf("policies %+v", got)
	}
	if p := got[0]; p.Domain != "contoso.test" || p.Origin != preflight.Fetched || p.Mode != "enforce" || strings.Join(p.MX, ",") != "*.contoso.test,mail.contoso.test" ||
		p.Where != "https://mta-sts.contoso.test/.well-known/mta-sts.txt" || p.Err != "" {
		t.Errorf("contoso.test: %+v", p)
	}
	if p := got[1]; p.Domain != "fabrikam.test" || !p.NoPolicy || p.Err != "" {
		t.Errorf("fabrikam.test: %+v", p)
	}
	if p := got[2]; p.Err == "" || !strings.Contains(p.Err, "certificate") || len(p.MX) != 0 {
		t.Errorf("badpki.test: %+v", p)
	}
}

// --chain-store: the server's intermediate store (here a PEM directory)
// completes the chain of a leaf-only renewal; a store that cannot be read
// is named in the warning, not fatal.
func TestPreflightChainStore(t *testing.T) {
	dir, ca, args := preflightServer(t)
	ic, err := ca.Issue(lab.IssueOptions{CommonName: "Contoso Intermediate CA", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ic.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	n, err := inter.Issue(lab.IssueOptions{CommonName: "mail.contoso.com", Organization: []string{"Contoso"},
		DNSNames: []string{"mail.contoso.com", "edge01.contoso.com"}, ServerAuth: true, ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	key, err := n.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "leaf.pem")
	write(t, file, append(n.CertPEM(), key...))
	cas := filepath.Join(tempdir.New(t), "ca")
	if err := os.MkdirAll(cas, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(cas, "intermediate.crt"), ic.CertPEM())
	write(t, filepath.Join(cas, "root.crt"), ca.CertPEM())
	_, out, stderr := run(t, append(args, "--new-cert", file, "--chain-store", "pemdir:"+cas)...)
	if !strings.Contains(out, "[PASS] chain: chain complete: mail.contoso.com <- Contoso Intermediate CA (pemdir:"+cas) {
		t.Fatalf("with the chain store: stderr %s\n%s", stderr, out)
	}
	missing := filepath.Join(cas, "absent")
	_, out, stderr = run(t, append(args, "--new-cert", file, "--chain-store", "pemdir:"+missing)...)
	if !strings.Contains(out, "[WARN] chain: chain incomplete") || !strings.Contains(out, "not read: pemdir:"+missing) {
		t.Fatalf("unreadable chain store: stderr %s\n%s", stderr, out)
	}
}
