package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/preflight"
	"github.com/mxprobe/mxprobe/internal/tempdir"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// The pre-flight checks, each with one scenario that breaks and one that
// does not, run as an admin runs them: `agent preflight` on what is handed
// over from an Edge server in hybrid (Export-Clixml of Get-ChildItem
// Cert:\LocalMachine\My, Get-ExchangeCertificate, the connectors, the
// transport service and Exchange Online's Get-InboundConnector, UTF-16 LE as
// Windows PowerShell writes them), with real certificates minted here and
// the renewal as a password-protected PFX, a .cer or a PEM: the
// Export-Clixml command line of docs/preflight.md. The DNS-fed
// checks (DANE, MTA-STS policies) are in preflight_dns_test.go against the
// DNSSEC lab; the checks on a real crypt32 store in
// preflight_windows_test.go.

// pfServer is one scenario's server and renewal.
type pfServer struct {
	root, issuing, other *lab.CA
	// old is today's certificate (its key listed by Get-ExchangeCertificate).
	oldOpts lab.IssueOptions
	// the renewal: issued by newCA with newOpts, handed over as format
	// ("pfx", "cer", "pem"), with the chain in the file unless leafOnly.
	newCA    *lab.CA
	newOpts  lab.IssueOptions
	format   string
	leafOnly bool
	// wrongKey puts another key than the certificate's into the PFX.
	wrongKey bool
	// inbound is Exchange Online's inbound connector's
	// TlsSenderCertificateName ("" exports no inbound connector).
	inbound string
	// inboundFile, when set, is the inbound connector's value exported on
	// its own and given as --inbound-connectors (as with a collected
	// inventory).
	inboundFile string
	// chainStore, when non-nil, is exported as Get-ChildItem
	// Cert:\LocalMachine\CA and given as --chain-store.
	chainStore []*x509.Certificate
	args       []string
	// request, with format "cer" and --key-source request, writes the
	// store of pending requests as a PEM directory given as
	// --request-store: "match" holds the placeholder certificate
	// certreq/New-ExchangeCertificate -GenerateRequest leave with the
	// renewal's key, "other" a request for another key.
	request string
	// old and n are minted by mint (or write) from the options above.
	old, n *lab.Issued
}

const pfPassword = "Renew-2026!"

var pfNames = []string{"mail.contoso.com", "edge01.contoso.com", "smtp.contoso.com"}

func newPFServer(t *testing.T) *pfServer {
	t.Helper()
	root, err := lab.NewCA("Contoso Root CA")
	if err != nil {
		t.Fatal(err)
	}
	ic, err := root.Issue(lab.IssueOptions{CommonName: "Contoso Issuing CA", IsCA: true, KeyType: lab.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := ic.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.NewCA("Fabrikam Public CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return &pfServer{root: root, issuing: issuing, other: other, newCA: issuing, format: "pfx", inbound: "mail.contoso.com",
		newOpts: lab.IssueOptions{KeyType: lab.KeyRSA},
		oldOpts: lab.IssueOptions{NotBefore: now.AddDate(-1, 0, 10), NotAfter: now.AddDate(0, 0, 10)}}
}

func pfIssue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	o.CommonName, o.Organization = "mail.contoso.com", []string{"Contoso"}
	if o.DNSNames == nil {
		o.DNSNames = pfNames
	}
	if !o.ServerAuth && !o.ClientAuth {
		o.ServerAuth, o.ClientAuth = true, true
	}
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// mint issues today's certificate and the renewal.
func (s *pfServer) mint(t *testing.T) {
	t.Helper()
	s.old, s.n = pfIssue(t, s.issuing, s.oldOpts), pfIssue(t, s.newCA, s.newOpts)
}

// write exports the server and writes the renewal (minting them first
// unless mint was called); it returns the command line and the two
// certificates.
func (s *pfServer) write(t *testing.T) (args []string, old, n *lab.Issued) {
	t.Helper()
	if s.old == nil {
		s.mint(t)
	}
	old, n = s.old, s.n
	dir := tempdir.New(t)
	exports := filepath.Join(dir, "edge01-exports")
	if err := os.MkdirAll(exports, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(exports, name)
		if strings.HasPrefix(name, "..") {
			p = filepath.Join(dir, name[3:])
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsName := "<I>" + s.issuing.Cert.Subject.String() + "<S>" + old.Cert.Subject.String()
	put("my.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.StoreCertificate(old.Cert, old.Thumbprint()))))
	put("exchangecertificate.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.ExchangeCertificate(old.Cert, old.Thumbprint(), "EDGE01"))))
	put("sendconnector.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.SendConnector{Name: "Outbound to Office 365", Enabled: true,
		Fqdn: "mail.contoso.com", TlsCertificateName: tlsName, TlsDomain: "mail.protection.outlook.com", TlsAuthLevel: "DomainValidation",
		RequireTLS: true, CloudServicesMailEnabled: true, DNSRoutingEnabled: true, AddressSpaces: []string{"smtp:contoso.mail.onmicrosoft.com;1"},
		SourceTransportServers: []string{"EDGE01"}, ProtocolLoggingLevel: "Verbose"}.Obj())))
	put("receiveconnector.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.ReceiveConnector{Server: "EDGE01",
		Name: "Default internal receive connector EDGE01", Enabled: true, Fqdn: "mail.contoso.com", TlsCertificateName: tlsName,
		Bindings: []string{"0.0.0.0:25", "[::]:25"}, AuthMechanism: "Tls, ExchangeServer", AuthMechanismValue: 17,
		TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}, TransportRole: "HubTransport"}.Obj())))
	put("transportservice.xml", clixmltest.UTF16LE(clixmltest.Document(
		clixmltest.TransportService{Name: "EDGE01", InternalTransportCertificateThumbprint: old.Thumbprint()}.Obj(),
		clixmltest.ExchangeServer{Name: "EDGE01", Fqdn: "edge01.contoso.com", AdminDisplayVersion: "Version 15.2 (Build 1544.4)", ServerRole: "Edge", IsEdgeServer: true}.Obj())))
	if s.inbound != "" {
		put("exo-inboundconnector.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.InboundConnector{
			Name: "Inbound from 7d6a1c2e-0b6f-4a4e-9c55-2f1e0c557a3b", ConnectorType: "OnPremises", Enabled: true,
			TlsSenderCertificateName: s.inbound, RequireTls: true, RestrictDomains: true, SenderDomains: []string{"smtp:*;1"}}.Obj())))
	}
	args = []string{"preflight", "--cert-store", "snapshot:" + exports, "--exchange-inventory", exports, "--hostname", "edge01.contoso.com", "--format", "json"}
	if s.inboundFile != "" {
		f := put("../exo-inboundconnector.xml", clixmltest.UTF16LE(clixmltest.Document(clixmltest.InboundConnector{
			Name: "Inbound from 7d6a1c2e-0b6f-4a4e-9c55-2f1e0c557a3b", ConnectorType: "OnPremises", Enabled: true,
			TlsSenderCertificateName: s.inboundFile, RequireTls: true, RestrictDomains: true, SenderDomains: []string{"smtp:*;1"}}.Obj())))
		args = append(args, "--inbound-connectors", f)
	}
	if s.chainStore != nil {
		var nodes []*clixmltest.Node
		for _, c := range s.chainStore {
			nodes = append(nodes, caStoreCertificate(c))
		}
		args = append(args, "--chain-store", "snapshot:"+put("../ca-store.xml", clixmltest.UTF16LE(clixmltest.Document(nodes...))))
	}

	if s.request != "" {
		key := n.Key
		if s.request == "other" {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			key = other
		}
		ph := requestPlaceholder(t, key)
		reqs := filepath.Join(dir, "request-store")
		if err := os.MkdirAll(reqs, 0o755); err != nil {
			t.Fatal(err)
		}
		kp, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		put("../request-store/request.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ph.Raw}))
		put("../request-store/request.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kp}))
		args = append(args, "--key-source", "request", "--request-store", "pemdir:"+reqs)
	}
	var chain []*x509.Certificate
	if !s.leafOnly {
		chain = n.Chain
	}
	var file string
	switch s.format {
	case "pfx":
		key := n.Key
		if s.wrongKey {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			key = other
		}
		pfx, err := pkcs12.Modern.Encode(key, n.Cert, chain, pfPassword)
		if err != nil {
			t.Fatal(err)
		}
		file = put("../mail-2027.pfx", pfx)
		t.Setenv("MXPROBE_PFX_PASSWORD", pfPassword)
	case "cer":
		file = put("../mail-2027.cer", n.Cert.Raw)
	case "pem":
		key, err := n.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		file = put("../mail-2027.pem", append(n.CertPEM(), key...))
	default:
		t.Fatalf("format %q", s.format)
	}
	return append(append(args, "--new-cert", file), s.args...), old, n
}

// requestPlaceholder is the self-signed certificate a pending request
// leaves in the request store, holding the request's key.
func requestPlaceholder(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "mail.contoso.com", Organization: []string{"Contoso"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// caStoreCertificate is one item of Get-ChildItem Cert:\LocalMachine\CA.
func caStoreCertificate(c *x509.Certificate) *clixmltest.Node {
	tp := thumbprint.Of(c)
	path := `Microsoft.PowerShell.Security\Certificate::LocalMachine\CA\` + tp
	return clixmltest.Obj("", []string{"System.Security.Cryptography.X509Certificates.X509Certificate2", "System.Security.Cryptography.X509Certificates.X509Certificate", "System.Object"},
		"[Subject]\r\n  "+c.Subject.String()+"\r\n\r\n[Thumbprint]\r\n  "+tp+"\r\n", []*clixmltest.Node{clixmltest.BA("RawData", c.Raw)},
		clixmltest.S("PSPath", path), clixmltest.S("PSParentPath", `Microsoft.PowerShell.Security\Certificate::LocalMachine\CA`), clixmltest.S("PSChildName", tp),
		clixmltest.B("PSIsContainer", false))
}

type pfCase struct {
	name  string
	check string
	setup func(*pfServer)
	// want is the status of a check with that id whose summary contains about.
	want  preflight.Status
	about string
	// exit is the command's exit status (0 nothing breaks, 2 a break).
	exit int
	// not are statuses no check of that id may have.
	not []preflight.Status
}

func TestPreflightChecksBreakAndPass(t *testing.T) {
	bad := []preflight.Status{preflight.Fail, preflight.Warn, preflight.NotChecked}
	cases := []pfCase{
		{name: "same issuer and subject", check: preflight.CheckTLSName, want: preflight.Pass, about: "designates the new certificate", not: bad},
		{name: "issuer changed", check: preflight.CheckTLSName, setup: func(s *pfServer) { s.newCA = s.other },
			want: preflight.Fail, about: "once the old certificate is removed", exit: 2},

		{name: "PFX with its key", check: preflight.CheckKey, want: preflight.Pass, not: bad},
		{name: "PEM with its key", check: preflight.CheckKey, setup: func(s *pfServer) { s.format = "pem" }, want: preflight.Pass, not: bad},
		{name: ".cer without key", check: preflight.CheckKey, setup: func(s *pfServer) { s.format = "cer" },
			want: preflight.Fail, about: "without a private key", exit: 2},
		{name: ".cer completing a pending request", check: preflight.CheckKey, setup: func(s *pfServer) { s.format, s.request = "cer", "match" },
			want: preflight.Pass, about: "key of the pending request", not: bad},
		{name: ".cer for a request this server does not hold", check: preflight.CheckKey, setup: func(s *pfServer) { s.format, s.request = "cer", "other" },
			want: preflight.Fail, about: "no pending request in pemdir:", exit: 2},
		{name: ".cer for a request, request store not read", check: preflight.CheckKey, setup: func(s *pfServer) {
			s.format, s.args = "cer", []string{"--key-source", "request"}
		}, want: preflight.NotChecked, about: "the request store was not read"},
		{name: "PFX with another certificate's key", check: preflight.CheckKey, setup: func(s *pfServer) { s.wrongKey = true },
			want: preflight.Fail, about: "cannot be used", exit: 2},

		{name: "chain in the server's CA store", check: preflight.CheckChain, setup: func(s *pfServer) {
			s.leafOnly, s.chainStore = true, []*x509.Certificate{s.issuing.Cert, s.root.Cert}
		}, want: preflight.Pass, about: "Contoso Issuing CA (snapshot:", not: bad},
		{name: "intermediate in no store", check: preflight.CheckChain, setup: func(s *pfServer) {
			s.leafOnly, s.chainStore = true, []*x509.Certificate{s.root.Cert}
		}, want: preflight.Warn, about: "chain incomplete: mail.contoso.com is issued by CN=Contoso Issuing CA"},

		{name: "connector FQDNs covered", check: preflight.CheckNames, want: preflight.Pass, about: "edge01.contoso.com (the server FQDN) is covered"},
		{name: "server FQDN dropped from the SAN", check: preflight.CheckNames, setup: func(s *pfServer) {
			s.newOpts.DNSNames = []string{"mail.contoso.com", "smtp.contoso.com"}
		}, want: preflight.Fail, about: "edge01.contoso.com (the server FQDN) is covered by the old certificate", exit: 2},
		{name: "TlsSenderCertificateName covered", check: preflight.CheckNames, want: preflight.Pass,
			about: "TlsSenderCertificateName mail.contoso.com (connector export"},
		{name: "TlsSenderCertificateName dropped", check: preflight.CheckNames, setup: func(s *pfServer) {
			s.inbound, s.newOpts.DNSNames = "smtp.contoso.com", []string{"mail.contoso.com", "edge01.contoso.com"}
		}, want: preflight.Fail, about: "TlsSenderCertificateName smtp.contoso.com (connector export", exit: 2},
		{name: "TlsSenderCertificateName exported apart, covered", check: preflight.CheckNames, setup: func(s *pfServer) { s.inbound, s.inboundFile = "", "mail.contoso.com" },
			want: preflight.Pass, about: "TlsSenderCertificateName mail.contoso.com (connector export: Get-InboundConnector export "},
		{name: "TlsSenderCertificateName exported apart, dropped", check: preflight.CheckNames, setup: func(s *pfServer) {
			s.inbound, s.inboundFile, s.newOpts.DNSNames = "", "smtp.contoso.com", []string{"mail.contoso.com", "edge01.contoso.com"}
		}, want: preflight.Fail, about: "TlsSenderCertificateName smtp.contoso.com (connector export: Get-InboundConnector export ", exit: 2},
		{name: "no inbound connector export", check: preflight.CheckNames, setup: func(s *pfServer) { s.inbound = "" },
			want: preflight.NotChecked, about: "TlsSenderCertificateName"},

		{name: "serverAuth and clientAuth", check: preflight.CheckKeyUsage, want: preflight.Pass, not: bad},
		{name: "serverAuth only, sending to Exchange Online", check: preflight.CheckKeyUsage, setup: func(s *pfServer) { s.newOpts.ServerAuth = true },
			want: preflight.Fail, about: "clientAuth", exit: 2},
		// (A comma in the name puts one in the renewal's path: --new-cert
		// takes it whole, as a Windows path may have one.)
		{name: "RSA 2048, SHA-256", check: preflight.CheckKeyStrength, want: preflight.Pass, about: "SHA256-RSA", not: bad},
		{name: "RSA 1024", check: preflight.CheckKeyStrength, setup: func(s *pfServer) { s.newOpts.RSABits = 1024 },
			want: preflight.Fail, about: "RSA key of 1024 bits", exit: 2},
		{name: "P-256", check: preflight.CheckKeyStrength, setup: func(s *pfServer) { s.newOpts.KeyType = lab.KeyECDSAP256 },
			want: preflight.Pass, about: "ECDSA key", not: bad},
		{name: "SHA-1 signature", check: preflight.CheckKeyStrength, setup: func(s *pfServer) { s.newOpts.SignatureAlgorithm = x509.SHA1WithRSA },
			want: preflight.Fail, about: "signed with SHA1-RSA", exit: 2},

		{name: "same issuer and subject: the trap", check: preflight.CheckDuplicate, want: preflight.Warn,
			about: "builds taking the latest-expiring match picks the new certificate"},
		{name: "another identity: no trap", check: preflight.CheckDuplicate, setup: func(s *pfServer) { s.newCA = s.other },
			exit: 2, not: []preflight.Status{preflight.Warn, preflight.Fail}},

		{name: "old certificate expires in 200 days", check: preflight.CheckOldExpiry, setup: func(s *pfServer) {
			s.oldOpts = lab.IssueOptions{NotBefore: time.Now().AddDate(0, 0, -165), NotAfter: time.Now().AddDate(0, 0, 200)}
		}, want: preflight.Info, about: "(199 days)", not: []preflight.Status{preflight.Warn, preflight.Fail}},
		{name: "old certificate expires in 10 days", check: preflight.CheckOldExpiry, want: preflight.Warn, about: "(9 days): without the renewal send connector Outbound to Office 365"},
		{name: "old certificate expired", check: preflight.CheckOldExpiry, setup: func(s *pfServer) {
			s.oldOpts = lab.IssueOptions{NotBefore: time.Now().AddDate(-1, 0, -3), NotAfter: time.Now().AddDate(0, 0, -3)}
		}, want: preflight.Fail, about: "already expired", exit: 2},

		{name: "new certificate valid", check: preflight.CheckValidity, want: preflight.Pass, not: bad},
		{name: "new certificate expired", check: preflight.CheckValidity, setup: func(s *pfServer) {
			s.newOpts.NotBefore, s.newOpts.NotAfter = time.Now().AddDate(-1, 0, -1), time.Now().AddDate(0, 0, -1)
		}, want: preflight.Fail, about: "already expired", exit: 2},
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			s := newPFServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			args, _, n := s.write(t)
			code, out, stderr := run(t, args...)
			var r preflight.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("exit %d: %v\nstderr %s\n%s", code, err, stderr, out)
			}
			if r.New.Thumbprint != n.Thumbprint() {
				t.Fatalf("new certificate %s, want %s", r.New.Thumbprint, n.Thumbprint())
			}
			text := reportText(r)
			if code != tc.exit || r.Breaks != (tc.exit == 2) {
				t.Errorf("exit %d (breaks %v), want %d; stderr %s\n%s", code, r.Breaks, tc.exit, stderr, text)
			}
			if tc.want != "" {
				found := false
				for _, c := range r.Checks {
					found = found || c.ID == tc.check && c.Status == tc.want && strings.Contains(c.Summary, tc.about)
				}
				if !found {
					t.Errorf("no [%s] %s check about %q\n%s", tc.want, tc.check, tc.about, text)
				}
			}
			for _, c := range r.Checks {
				for _, st := range tc.not {
					if c.ID == tc.check && c.Status == st {
						t.Errorf("unexpected [%s] %s: %s\n%s", st, c.ID, c.Summary, text)
					}
				}
			}
		})
	}
}

func reportText(r preflight.Report) string {
	var b strings.Builder
	for _, c := range r.Connectors {
		b.WriteString(c.Name + ": " + string(c.Outcome) + " " + strings.Join(c.NewCodes, ",") + " (today " + strings.Join(c.Today.Codes, ",") + ")\n")
	}
	for _, c := range r.Checks {
		b.WriteString("  [" + string(c.Status) + "] " + c.ID + ": " + c.Summary + "\n")
	}
	return b.String()
}

// An --inbound-connectors file that is not an inbound connector export is
// an error (exit 1), not a check passed on nothing.
func TestPreflightInboundConnectorsFileRefused(t *testing.T) {
	s := newPFServer(t)
	s.inbound = ""
	s.args = []string{"--inbound-connectors", filepath.Join(tempdir.New(t), "absent.xml")}
	args, _, _ := s.write(t)
	if code, out, stderr := run(t, args...); code != 1 || !strings.Contains(stderr, "--inbound-connectors") {
		t.Fatalf("exit %d, stderr %s\n%s", code, stderr, out)
	}
}
