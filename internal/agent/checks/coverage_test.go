package checks

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog/evtxtest"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// notProducedByAgent lists catalog codes no agent check produces, with why.
// Everything else must be produced by some scenario below, on Linux, from
// real files or lab servers.
var notProducedByAgent = map[finding.Code]string{
	finding.AgentSilent:          "raised by the controller when an agent stops reporting",
	finding.AgentSpoolLoss:       "raised by the runner from spool statistics; tested in internal/agent/runner",
	finding.TLSRPTFailures:       "raised by the controller from TLS-RPT reports; tested in internal/tlsrpt and internal/controller",
	finding.TLSRPTPolicyFailures: "raised by the controller from TLS-RPT reports; tested in internal/tlsrpt and internal/controller",
	finding.TLSRPTReportsStale:   "raised by the controller when a domain's reports stop (ageing); tested in internal/controller/store, correlate and node",
}

// dnsLabCodes are produced by the mail_domain check against the DNSSEC lab
// (TestMailDomainAgainstDNSSECLab, which needs lab MX and HTTPS ports; the
// rollover codes: TestMailDomainWarnsTLSAWillNotMatchRenewal).
var dnsLabCodes = map[finding.Code]bool{
	finding.DNSLookupFailed: true, finding.DNSResolverNotValidating: true, finding.DNSSECBogus: true, finding.MailDomainNoMX: true,
	finding.MXNoAddress: true, finding.DANETLSAMismatch: true, finding.DANETLSAUnsigned: true, finding.DANETLSAUnusable: true,
	finding.DANEStartTLSFailed: true, finding.MTASTSNoPolicy: true, finding.MTASTSRecordInvalid: true, finding.MTASTSPolicyFetchFailed: true,
	finding.MTASTSPolicyWebPKIInvalid: true, finding.MTASTSPolicyInvalid: true, finding.MTASTSMXNotCovered: true,
	finding.MTASTSCertNameNotCovered: true, finding.TLSRPTRecordMissing: true, finding.TLSRPTRecordInvalid: true,
	finding.DANETLSANextMismatch: true, finding.DANENextCertUnchecked: true,
}

// windowsOnly lists codes that only a Windows agent can produce. None: the
// Windows-only evidence (key ACLs, crypt32 key acquisition) reaches the rules
// through certstore snapshots, which the "key not accessible" scenario uses.
var windowsOnly = map[finding.Code]string{}

type scenario struct {
	name  string
	spec  func(t *testing.T) Spec
	codes []finding.Code // must all be produced
}

func writeIssued(t *testing.T, dir, name string, is *lab.Issued, withKey bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), is.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if withKey {
		k, err := is.KeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".key"), k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func mustIssue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func newCA(t *testing.T) *lab.CA {
	t.Helper()
	ca, err := lab.NewCA("mxprobe test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func startLab(t testing.TB, sc lab.Scenario, ca *lab.CA) *lab.Server {
	t.Helper()
	s, err := lab.Start(context.Background(), sc, lab.ServerOptions{CA: ca, Hostname: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func writeCAFile(t testing.TB, ca *lab.CA) string {
	t.Helper()
	p := filepath.Join(tempdir.New(t), "ca.pem")
	if err := os.WriteFile(p, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func seedSpec(t *testing.T) Spec {
	ca := newCA(t)
	dir := tempdir.New(t)
	seed, err := lab.WriteSeedStore(filepath.Join(dir, "store"), ca, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(seed.Good.Cert, seed.Good.Thumbprint)); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: seed.KeylessDuplicate.Thumbprint, Failure: "NoCredentials"})); err != nil {
		t.Fatal(err)
	}
	qf, err := checktest.WriteFile(dir, "q.json", checktest.QueueJSON(`EDGE01\3`, "tenant.mail.onmicrosoft.com", 5, checktest.SeedLastError))
	if err != nil {
		t.Fatal(err)
	}
	return Spec{CertStores: []string{"pemdir:" + seed.Dir}, ExchangeInventory: inv, ProtocolLogs: []string{logs}, QueueFile: qf}
}

func scenarios() []scenario {
	return []scenario{
		{"exchange online DANE result in a queue", func(t *testing.T) Spec {
			dir := tempdir.New(t)
			qf, err := checktest.WriteFile(dir, "q.json", checktest.QueueJSON(`EDGE01\7`, "fabrikam.com", 3,
				"[{LED=450 4.7.323 tlsa-invalid: The domain failed DANE validation.};{MSG=};{FQDN=mail.fabrikam.com};{IP=203.0.113.7};{LRT=12/1/2026 9:14:03 AM}]"))
			if err != nil {
				t.Fatal(err)
			}
			return Spec{QueueFile: qf}
		}, []finding.Code{finding.DANENDR}},
		{"exchange online DANE result in a protocol log", func(t *testing.T) Spec {
			dir := tempdir.New(t)
			log := checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365",
				Reply: "550 5.7.322 certificate-expired: Destination mail server's certificate is expired."})
			if _, err := checktest.WriteFile(dir, "SmtpSend/SEND20190502-1.log", log); err != nil {
				t.Fatal(err)
			}
			return Spec{ProtocolLogs: []string{dir}}
		}, []finding.Code{finding.DANENDR}},
		{"seed incident", seedSpec, []finding.Code{finding.CertNoPrivateKey, finding.CertDuplicateIdentity, finding.CertExpired,
			finding.ConnectorCertAmbiguous, finding.ConnectorSelectsKeyless, finding.LogTLSNegotiationFailed,
			finding.LogUnexpectedCertSent, finding.QueueTLSFailure}},
		{"store problems", func(t *testing.T) Spec {
			ca := newCA(t)
			dir := tempdir.New(t)
			now := time.Now()
			writeIssued(t, dir, "expiring", mustIssue(t, ca, lab.IssueOptions{CommonName: "expiring.contoso.com", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(0, 0, 10)}), true)
			writeIssued(t, dir, "future", mustIssue(t, ca, lab.IssueOptions{CommonName: "future.contoso.com", NotBefore: now.AddDate(0, 0, 2), NotAfter: now.AddDate(1, 0, 0)}), true)
			writeIssued(t, dir, "selfsigned", mustIssue(t, ca, lab.IssueOptions{CommonName: "EDGE01", SelfSigned: true}), true)
			writeIssued(t, dir, "weak", mustIssue(t, ca, lab.IssueOptions{CommonName: "weak.contoso.com", KeyType: lab.KeyRSA, RSABits: 1024}), true)
			rsaInt, err := mustIssue(t, ca, lab.IssueOptions{CommonName: "Contoso RSA Intermediate", IsCA: true, KeyType: lab.KeyRSA}).AsCA()
			if err != nil {
				t.Fatal(err)
			}
			writeIssued(t, dir, "sha1", mustIssue(t, rsaInt, lab.IssueOptions{CommonName: "sha1.contoso.com", SignatureAlgorithm: x509.SHA1WithRSA}), true)
			if err := os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return Spec{CertStores: []string{"pemdir:" + dir}}
		}, []finding.Code{finding.CertExpiring, finding.CertNotYetValid, finding.CertSelfSigned, finding.CertWeakKey, finding.CertWeakSignature, finding.CertEntryUnreadable}},
		{"CA certificate next to the server certificate", func(t *testing.T) Spec {
			spec, _ := caBesideServerSpec(t)
			return spec
		}, []finding.Code{finding.CertCANotTransport}},
		{"store that yields nothing", func(t *testing.T) Spec {
			dir := tempdir.New(t)
			// An existing directory whose files are no certificates (the
			// admin pointed at the wrong folder, or exported in a format
			// the agent does not read).
			if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("certificates are in ../ssl\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return Spec{CertStores: []string{"pemdir:" + dir}}
		}, []finding.Code{finding.CertStoreEmpty}},
		{"store unreadable", func(t *testing.T) Spec {
			return Spec{CertStores: []string{"pemdir:" + filepath.Join(tempdir.New(t), "missing")}}
		}, []finding.Code{finding.CertStoreUnreadable}},
		{"key not accessible (Windows snapshot)", func(t *testing.T) Spec {
			ca := newCA(t)
			good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"})
			no := false
			inv := certstore.Contents{Location: `windows:LocalMachine\My`, ReadAt: time.Now(), Certificates: []certstore.Certificate{{
				Thumbprint: good.Thumbprint(), Cert: good.Cert, HasPrivateKey: true, Key: certstore.KeyUsable, TransportCanReadKey: &no,
				Source: `windows:LocalMachine\My`, Sources: []string{`windows:LocalMachine\My`}, KeySource: "Microsoft Software Key Storage Provider",
			}}}
			var b bytes.Buffer
			if err := certread.WriteSnapshot(&b, inv); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(tempdir.New(t), "snap.json")
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			return Spec{CertStores: []string{"snapshot:" + p}}
		}, []finding.Code{finding.CertKeyNotAccessible}},
		{"connector configuration", func(t *testing.T) Spec {
			ca := newCA(t)
			dir := tempdir.New(t)
			good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"})
			other := mustIssue(t, ca, lab.IssueOptions{CommonName: "old.contoso.com"})
			writeIssued(t, filepath.Join(dir, "store"), "good", good, true)
			x := exchangetest.SeedConfig(good.Cert, "0123456789ABCDEF0123456789ABCDEF01234567")
			x.SendConnectors[0].RequireTLS = false // weak TLS to Exchange Online
			x.SendConnectors = append(x.SendConnectors,
				exchange.SendConnector{Name: "To partner", Enabled: true, TlsCertificateName: exchange.TLSCertificateNameFor(other.Cert).String(),
					AddressSpaces: []exchange.AddressSpace{{Type: "SMTP", Address: "partner.example", Cost: 1}}, SourceTransportServers: []string{"EDGE01"}},
				exchange.SendConnector{Name: "Typo", Enabled: true, TlsCertificateName: "CN=mail.contoso.com", SourceTransportServers: []string{"EDGE01"}})
			x.ReceiveConnectors = append(x.ReceiveConnectors,
				exchange.ReceiveConnector{Name: "Inbound from Office 365", Server: "EDGE01", Enabled: true, Bindings: []string{"0.0.0.0:25"},
					Fqdn: "mail.contoso.com", AuthMechanism: []string{"Tls"}, TlsDomainCapabilities: []string{"mail.protection.outlook.com:AcceptCloudServicesMail"}},
				exchange.ReceiveConnector{Name: "No TLS", Server: "EDGE01", Enabled: true, Bindings: []string{"0.0.0.0:2525"},
					Fqdn: "mail.contoso.com", AuthMechanism: []string{"None"}})
			p := filepath.Join(dir, "inv.json")
			if err := checktest.WriteConfig(p, x); err != nil {
				t.Fatal(err)
			}
			return Spec{CertStores: []string{"pemdir:" + filepath.Join(dir, "store")}, ExchangeInventory: p}
		}, []finding.Code{finding.ConnectorCertNotFound, finding.ConnectorTLSNameInvalid, finding.ConnectorWeakTLSAuth,
			finding.ConnectorNoTLSCertName, finding.SMTPStartTLSNotOffered, finding.InternalTransportCertMissing}},
		{"internal transport certificate without key", func(t *testing.T) Spec {
			ca := newCA(t)
			dir := tempdir.New(t)
			good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"})
			itc := mustIssue(t, ca, lab.IssueOptions{CommonName: "EDGE01", SelfSigned: true})
			writeIssued(t, filepath.Join(dir, "store"), "good", good, true)
			writeIssued(t, filepath.Join(dir, "store"), "itc", itc, false)
			p := filepath.Join(dir, "inv.json")
			if err := checktest.WriteConfig(p, exchangetest.SeedConfig(good.Cert, itc.Thumbprint())); err != nil {
				t.Fatal(err)
			}
			return Spec{CertStores: []string{"pemdir:" + filepath.Join(dir, "store")}, ExchangeInventory: p}
		}, []finding.Code{finding.InternalTransportCertKeyless}},
		{"protocol logs", func(t *testing.T) Spec {
			dir := tempdir.New(t)
			log := checktest.SendLog(
				checktest.Session{Connector: "Outbound to Office 365", Reply: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."},
				checktest.Session{Connector: "To partner", Remote: "198.51.100.7:25", Banner: "mx.partner.example ESMTP", NoStartTLS: true},
				checktest.Session{Connector: "Outbound to Office 365", NoStartTLS: true, Reply: "451 5.7.3 Must issue a STARTTLS command first"},
			)
			if _, err := checktest.WriteFile(dir, "SmtpSend/SEND20190502-1.log", log); err != nil {
				t.Fatal(err)
			}
			return Spec{ProtocolLogs: []string{dir}}
		}, []finding.Code{finding.LogTLSCertNotFound, finding.LogStartTLSNotOffered, finding.LogStartTLSRequired}},
		{"hybrid inbound presenting the self-signed certificate", func(t *testing.T) Spec {
			spec, _ := hybridInboundSpec(t, true)
			return spec
		}, []finding.Code{finding.LogSelfSignedSent, finding.ConnectorNoTLSCertName}},
		{"log shows the keyed certificate the simulation does not pick", func(t *testing.T) Spec {
			spec, _, _ := keyedSentSpec(t)
			return spec
		}, []finding.Code{finding.LogCertSent}},
		{"protocol logs re-encoded as UTF-16", func(t *testing.T) Spec {
			// Get-Content | Out-File on Windows PowerShell writes UTF-16 LE
			// with a BOM: every line is read, none is a protocol log row.
			dir := tempdir.New(t)
			log := checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpTail, Failure: "NoCredentials"})
			if _, err := checktest.WriteFile(dir, "SmtpSend/SEND20190502-1.log", utf16LE(log)); err != nil {
				t.Fatal(err)
			}
			return Spec{ProtocolLogs: []string{dir}}
		}, []finding.Code{finding.LogUnparseable}},
		{"live probes", func(t *testing.T) Spec {
			ca := newCA(t)
			var probes []string
			for _, sc := range []lab.Scenario{lab.Good, lab.Expired, lab.NotYetValid, lab.WrongName, lab.MissingIntermediate, lab.NoStartTLS,
				lab.GarbageTLS, lab.LegacyTLS, lab.RequireClientCert, lab.EndlessMultiline, lab.WeakKey, lab.SelfSigned, lab.Silent} {
				probes = append(probes, "smtp://"+startLab(t, sc, ca).Addr())
			}
			probes = append(probes, "smtp://"+closedPort(t))
			return Spec{Probes: probes, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 5 * time.Second}
		}, []finding.Code{finding.CertExpired, finding.CertNotYetValid, finding.CertNameMismatch, finding.CertChainIncomplete,
			finding.SMTPStartTLSNotOffered, finding.TLSHandshakeFailed, finding.TLSProtocolObsolete, finding.TLS12Unsupported,
			finding.TLSClientCertRejected, finding.SMTPProtocolError, finding.SMTPUnreachable, finding.CertWeakKey, finding.CertSelfSigned, finding.SMTPSlowBanner}},
		{"exported event log", func(t *testing.T) Spec {
			path := filepath.Join(tempdir.New(t), "Application.evtx")
			tp := "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"
			at := time.Now()
			e := func(provider string, id uint32, data ...string) eventlog.Event {
				return eventlog.Event{Provider: provider, ID: id, Time: at, Computer: "E19", Data: data}
			}
			evs := []eventlog.Event{
				e(eventlog.ProviderFrontEndTransport, 12014, "mail.contoso.com", "Default Frontend E19", "mail.contoso.com"),
				e(eventlog.ProviderTransport, 12016, "mail.contoso.com"), e(eventlog.ProviderTransport, 12015, tp),
				e(eventlog.ProviderTransport, 12013, tp), e(eventlog.ProviderTransport, 12012),
				{Provider: eventlog.ProviderSchannel, ID: 36887, Time: at, Data: []string{"48"}, DataNames: []string{"AlertDesc"}},
				{Provider: eventlog.ProviderSchannel, ID: 36874, Time: at, Data: []string{"TLS 1.2"}, DataNames: []string{"Protocol"}},
			}
			if err := evtxtest.Write(path, evs); err != nil {
				t.Fatal(err)
			}
			return Spec{EventLogFiles: []string{path}, EventLogWindow: time.Hour}
		}, []finding.Code{finding.EventStartTLSCertNotFound, finding.EventStartTLSCertExpired, finding.EventInternalCertExpired,
			finding.EventCertLoadFailed, finding.EventInternalCertNotInAD, finding.EventSchannelAlert, finding.EventSchannelNoCipher}},
		{"revocation of presented chains", func(t *testing.T) Spec {
			revoked := startRevocationLab(t, nil, nil, false, true)
			dmz := startRevocationLab(t, []string{"http://" + closedPort(t) + "/ocsp"}, []string{"http://" + closedPort(t) + "/crl"}, false, false)
			spec := revoked.spec(t)
			spec.Probes = append(spec.Probes, dmz.probe)
			// The second lab's root is not in the CA file (CERT_UNTRUSTED
			// as well); its leaf's revocation is still checked against the
			// issuer in the presented chain.
			return spec
		}, []finding.Code{finding.CertRevoked, finding.CertRevocationUnav}},
		{"probe against untrusted root", func(t *testing.T) Spec {
			return Spec{Probes: []string{"smtp://" + startLab(t, lab.Good, newCA(t)).Addr()}, ExpectName: "localhost", ProbeTimeout: 5 * time.Second}
		}, []finding.Code{finding.CertUntrusted}},
	}
}

// utf16LE re-encodes b as UTF-16 little-endian with a byte order mark.
func utf16LE(b []byte) []byte {
	out := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(string(b))) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

func runSpec(t *testing.T, spec Spec) []*mxv1.CheckResult {
	t.Helper()
	b, err := NewBuilder(spec)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := b.All()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return RunAll(ctx, cs, 16)
}

// TestEveryCatalogCodeIsProduced runs every scenario against real files and
// lab servers and fails when a catalog code is never produced (except the
// documented exemptions) or a scenario misses one of its codes.
func TestEveryCatalogCodeIsProduced(t *testing.T) {
	var mu sync.Mutex
	produced := map[finding.Code][]string{}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			results := runSpec(t, sc.spec(t))
			got := map[finding.Code]bool{}
			for _, r := range results {
				for _, f := range r.GetFindings() {
					got[finding.Code(f.Code)] = true
				}
			}
			for _, c := range sc.codes {
				if !got[c] {
					var have []string
					for g := range got {
						have = append(have, string(g))
					}
					sort.Strings(have)
					t.Errorf("%s not produced; got %v", c, have)
				}
			}
			mu.Lock()
			for c := range got {
				produced[c] = append(produced[c], sc.name)
			}
			mu.Unlock()
		})
	}
	for _, e := range finding.Default().Entries() {
		if _, ok := notProducedByAgent[e.Code]; ok {
			continue
		}
		if _, ok := windowsOnly[e.Code]; ok {
			continue
		}
		if dnsLabCodes[e.Code] {
			continue
		}
		if len(produced[e.Code]) == 0 {
			t.Errorf("catalog code %s is never produced by any scenario", e.Code)
		}
	}
	for c := range produced {
		if _, ok := finding.Default().Lookup(c); !ok {
			t.Errorf("produced code %s is not in the catalog", c)
		}
	}
}

// caBesideServerSpec: a PEM directory holding the server certificate with
// its key and, as admins often keep it, the keyless issuing CA certificate,
// with connectors that name the server certificate: a healthy server.
func caBesideServerSpec(t *testing.T) (Spec, *lab.Issued) {
	t.Helper()
	root := newCA(t)
	dir := tempdir.New(t)
	inter := mustIssue(t, root, lab.IssueOptions{CommonName: "Contoso Issuing CA", IsCA: true})
	ica, err := inter.AsCA()
	if err != nil {
		t.Fatal(err)
	}
	good := mustIssue(t, ica, lab.IssueOptions{CommonName: "mail.contoso.com", ServerAuth: true, ClientAuth: true})
	store := filepath.Join(dir, "store")
	writeIssued(t, store, "mail", good, true)
	writeIssued(t, store, "issuing-ca", inter, false)
	itc := mustIssue(t, ica, lab.IssueOptions{CommonName: "edge01.contoso.com"})
	writeIssued(t, store, "internal", itc, true)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(good.Cert, itc.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	return Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: inv}, inter
}

// The healthy control: a server certificate with its key next to its
// keyless issuing CA gets nothing above INFO (the CA is not a transport
// certificate), with or without the connectors known.
func TestCABesideServerCertificateIsHealthy(t *testing.T) {
	spec, inter := caBesideServerSpec(t)
	for _, s := range []Spec{spec, {CertStores: spec.CertStores}} {
		res := runSpec(t, s)
		var ca bool
		for _, r := range res {
			if r.Status != mxv1.CheckStatus_CHECK_STATUS_OK {
				t.Errorf("%s: %v %s", r.Check, r.Status, r.Error)
			}
			for _, f := range r.Findings {
				if f.Severity > mxv1.Severity_SEVERITY_INFO {
					t.Errorf("%s: %s %s %s: %s", r.Check, f.Severity, f.Code, f.Subject, f.Summary)
				}
				ca = ca || f.Code == string(finding.CertCANotTransport) && f.Subject == inter.Thumbprint()
			}
		}
		if !ca {
			t.Errorf("no CERT_CA_NOT_TRANSPORT for the issuing CA %s", inter.Thumbprint())
		}
	}
}

// A healthy lab server yields a clean result.
func TestProbeHealthyLabServerIsClean(t *testing.T) {
	ca := newCA(t)
	s := startLab(t, lab.Good, ca)
	res := runSpec(t, Spec{Probes: []string{"smtp://" + s.Addr()}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 5 * time.Second})
	if len(res) != 1 || res[0].Status != mxv1.CheckStatus_CHECK_STATUS_OK || len(res[0].Findings) != 0 {
		t.Fatalf("healthy probe: %v", res)
	}
}

// The probe presents the certificate the send connector would choose: the
// lab server requiring a client certificate from the lab CA accepts it; with
// the seed store (keyless duplicate chosen), nothing usable is presented.
func TestProbePresentsSendConnectorCertificate(t *testing.T) {
	ca := newCA(t)
	s := startLab(t, lab.RequireClientCert, ca)
	dir := tempdir.New(t)
	good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", ClientAuth: true, ServerAuth: true})
	writeIssued(t, filepath.Join(dir, "store"), "good", good, true)
	inv := filepath.Join(dir, "inv.json")
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(good.Cert, good.Thumbprint())); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Probes: []string{"smtp://" + s.Addr()}, CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 5 * time.Second,
		CertStores: []string{"pemdir:" + filepath.Join(dir, "store")}, ExchangeInventory: inv, ProbeSendConnector: "Outbound to Office 365"}
	for _, r := range runSpec(t, spec) {
		if r.Check != "smtp_probe" {
			continue
		}
		if len(r.Findings) != 0 {
			t.Fatalf("probe with the connector's certificate: %v", r.Findings)
		}
	}
	// Without the connector option the same server rejects the probe.
	spec.ProbeSendConnector = ""
	var rejected bool
	for _, r := range runSpec(t, spec) {
		for _, f := range r.Findings {
			rejected = rejected || f.Code == string(finding.TLSClientCertRejected)
		}
	}
	if !rejected {
		t.Fatal("probe without client certificate was not rejected")
	}
	// Seed store: the connector selects a certificate without key.
	seedDir := tempdir.New(t)
	seed, err := lab.WriteSeedStore(seedDir, ca, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := checktest.WriteConfig(inv, exchangetest.SeedConfig(seed.Good.Cert, seed.Good.Thumbprint)); err != nil {
		t.Fatal(err)
	}
	cc := &ConnectorClientCert{Source: &ExchangeSource{Config: inv, Stores: []Store{{URI: "pemdir:" + seedDir, Store: mustOpen(t, "pemdir:"+seedDir)}}}, Connector: "Outbound to Office 365"}
	cert, tp, err := cc.Certificate(context.Background())
	sel := exchange.SelectSend(exchangetest.SeedConfig(seed.Good.Cert, "").SendConnectors[0], "", mustRead(t, "pemdir:"+seedDir), exchange.SelectOptions{})
	if sel.Selected == seed.KeylessDuplicate.Thumbprint {
		if err == nil || tp != seed.KeylessDuplicate.Thumbprint {
			t.Fatalf("keyless selection: cert %v tp %s err %v", cert, tp, err)
		}
	} else if err != nil || tp != seed.Good.Thumbprint || cert == nil {
		t.Fatalf("good selection: tp %s err %v", tp, err)
	}
}

func mustOpen(t *testing.T, uri string) certstore.Store {
	t.Helper()
	s, err := certread.Open(uri, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRead(t *testing.T, uri string) []certstore.Certificate {
	t.Helper()
	inv, err := mustOpen(t, uri).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv.Certificates
}

// Bad input in one collector never stops the others.
func TestBrokenCollectorsDoNotStopOthers(t *testing.T) {
	dir := tempdir.New(t)
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("\x00\xff{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	if _, err := checktest.WriteFile(logs, "SmtpSend/SEND20190502-1.log", []byte("#Fields: broken\n\"unterminated,\x00\x01\n")); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t)
	store := filepath.Join(dir, "store")
	writeIssued(t, store, "good", mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com"}), true)
	res := runSpec(t, Spec{CertStores: []string{"pemdir:" + store}, ExchangeInventory: garbage, QueueFile: garbage, ProtocolLogs: []string{logs, filepath.Join(dir, "none")}})
	status := map[string]mxv1.CheckStatus{}
	for _, r := range res {
		status[r.Check] = r.Status
		if r.Status == mxv1.CheckStatus_CHECK_STATUS_ERROR && r.Error == "" {
			t.Errorf("%s: error status without message", r.Check)
		}
	}
	want := map[string]mxv1.CheckStatus{"certstore": mxv1.CheckStatus_CHECK_STATUS_OK, "exchange_connectors": mxv1.CheckStatus_CHECK_STATUS_ERROR,
		"queue": mxv1.CheckStatus_CHECK_STATUS_ERROR, "protocol_log": mxv1.CheckStatus_CHECK_STATUS_ERROR}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("%s status %v, want %v (all: %v)", k, status[k], v, status)
		}
	}
	if !slices.ContainsFunc(res, func(r *mxv1.CheckResult) bool {
		return r.Check == "certstore" && r.Status == mxv1.CheckStatus_CHECK_STATUS_OK
	}) {
		t.Fatal("certstore check did not run")
	}
}
