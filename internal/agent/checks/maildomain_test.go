package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/lab/dnslab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// outsideLab is the DNSSEC lab with MX servers and an MTA-STS policy host:
// every scenario of docs/outside-in.md as a domain.
type outsideLab struct {
	dns              *dnslab.Lab
	ca               *lab.CA
	mxPort, httpPort int
	// mx1 is what mx1.signed.test presents (its TLSA record matches it).
	mx1 *lab.Issued
}

func startOutsideLab(t *testing.T) *outsideLab {
	t.Helper()
	if err := dnslab.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ca, err := lab.NewCA("outside lab CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(o lab.IssueOptions) *lab.Issued {
		is, err := ca.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	// One port on several loopback addresses: one address per MX.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	mx1 := issue(lab.IssueOptions{CommonName: "mx1.signed.test", DNSNames: []string{"mx1.signed.test", "mail-new.signed.test"}})
	oldKey := issue(lab.IssueOptions{CommonName: "mx2.signed.test"})
	renewed := issue(lab.IssueOptions{CommonName: "mx2.signed.test"})
	mx3 := issue(lab.IssueOptions{CommonName: "mx3.signed.test"})
	mxu := issue(lab.IssueOptions{CommonName: "mx.unsigned.test"})
	nost, err := lab.Start(context.Background(), lab.NoStartTLS, lab.ServerOptions{Addr: net.JoinHostPort("127.0.0.6", strconv.Itoa(port)), Hostname: "mx4.signed.test", CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nost.Close() })
	// DANE variants, one record each: 3 0 1 (certificate, SHA-256), 3 1 2
	// (public key, SHA-512), 3 0 0 (the full certificate: an answer larger
	// than a UDP datagram, read again over TCP), 2 1 1 (the lab CA, sent
	// in the chain), and 2 1 1 of a CA that issued nothing here.
	mx5 := issue(lab.IssueOptions{CommonName: "mx5.signed.test"})
	mx6 := issue(lab.IssueOptions{CommonName: "mx6.signed.test"})
	names := []string{"mx7.signed.test"}
	for i := range 40 {
		names = append(names, fmt.Sprintf("alias-%02d.mail-hosting.signed.test", i)) // a certificate too large for a UDP answer
	}
	mx7 := issue(lab.IssueOptions{CommonName: "mx7.signed.test", DNSNames: names})
	mx8 := issue(lab.IssueOptions{CommonName: "mx8.signed.test"})
	mx9 := issue(lab.IssueOptions{CommonName: "mx9.signed.test"})
	otherCA, err := lab.NewCA("a CA that issued nothing here")
	if err != nil {
		t.Fatal(err)
	}
	mxb := issue(lab.IssueOptions{CommonName: "mx.bogus.test"})
	for ip, c := range map[string]*lab.Issued{"127.0.0.2": mx1, "127.0.0.3": renewed, "127.0.0.4": mx3, "127.0.0.5": mxu,
		"127.0.0.7": mx5, "127.0.0.8": mx6, "127.0.0.11": mx7, "127.0.0.12": mx8, "127.0.0.13": mx9, "127.0.0.14": mxb} {
		s, err := lab.Start(context.Background(), lab.Good, lab.ServerOptions{Addr: net.JoinHostPort(ip, strconv.Itoa(port)), Hostname: c.Cert.Subject.CommonName, CA: ca, Certificate: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	// The MTA-STS policy host, by SNI: an expired certificate for one domain.
	policies := map[string]string{
		"mta-sts.ok.signed.test":      "version: STSv1\nmode: enforce\nmx: mx1.signed.test\nmx: *.signed.test\nmax_age: 604800\n",
		"mta-sts.sts.signed.test":     "version: STSv1\nmode: enforce\nmx: other.signed.test\nmax_age: 604800\n",
		"mta-sts.stsexp.signed.test":  "version: STSv1\nmode: enforce\nmx: mx1.signed.test\nmax_age: 604800\n",
		"mta-sts.stsbad.signed.test":  "version: STSv1\nmode: strict\nmx: mx1.signed.test\nmax_age: 604800\n",
		"mta-sts.sts404.signed.test":  "",
		"mta-sts.ststest.signed.test": "version: STSv1\nmode: testing\nmx: other.signed.test\nmax_age: 604800\n",
		"mta-sts.stsage.signed.test":  "version: STSv1\nmode: enforce\nmx: mx1.signed.test\nmax_age: 99999999\n",
	}
	certs := map[string]tls.Certificate{}
	for h := range policies {
		o := lab.IssueOptions{CommonName: h}
		if strings.Contains(h, "stsexp") {
			o.NotAfter = time.Now().Add(-48 * time.Hour)
		}
		certs[h] = issue(o).TLSCertificate()
	}
	hl, err := net.Listen("tcp", "127.0.0.10:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		if r.URL.Path != "/.well-known/mta-sts.txt" || policies[host] == "" { // sts404: none served
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, policies[host])
	}), TLSConfig: &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := certs[hi.ServerName]
		return &c, nil
	}}}
	go srv.ServeTLS(hl, "", "")
	t.Cleanup(func() { srv.Close() })

	tlsaOf := func(c *x509.Certificate, u, sel, m uint8) string {
		r, err := dane.RecordFor(c, u, sel, m)
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	tlsa := func(c *lab.Issued, u uint8) string { return tlsaOf(c.Cert, u, dane.SelectorSPKI, dane.MatchingSHA256) }
	rpt := "\"v=TLSRPTv1; rua=mailto:tlsrpt@signed.test\""
	signed := []string{
		"mx1.signed.test. IN A 127.0.0.2", "mx2.signed.test. IN A 127.0.0.3", "mx3.signed.test. IN A 127.0.0.4",
		"_25._tcp.mx1.signed.test. IN TLSA " + tlsa(mx1, 3),
		"_25._tcp.mx2.signed.test. IN TLSA " + tlsa(oldKey, 3),
		"_25._tcp.mx3.signed.test. IN TLSA " + tlsa(mx3, 1),
		"ok.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.ok.signed.test. IN TXT \"v=STSv1; id=20261201\"", "_smtp._tls.ok.signed.test. IN TXT " + rpt,
		"mta-sts.ok.signed.test. IN A 127.0.0.10",
		"renewed.signed.test. IN MX 10 mx2.signed.test.",
		"pkix.signed.test. IN MX 10 mx3.signed.test.", "_smtp._tls.pkix.signed.test. IN TXT \"v=TLSRPTv1; rua=ftp://reports.signed.test\"",
		"sts.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.sts.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.sts.signed.test. IN A 127.0.0.10",
		"stsexp.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.stsexp.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.stsexp.signed.test. IN A 127.0.0.10",
		"stsbad.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.stsbad.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.stsbad.signed.test. IN A 127.0.0.10",
		"sts404.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.sts404.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.sts404.signed.test. IN A 127.0.0.10",
		"twosts.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.twosts.signed.test. IN TXT \"v=STSv1; id=1\"", "_mta-sts.twosts.signed.test. IN TXT \"v=STSv1; id=2\"",
		"nomx.signed.test. IN A 127.0.0.9",
		"noaddr.signed.test. IN MX 10 gone.signed.test.",
		"starttls.signed.test. IN MX 10 mx4.signed.test.", "mx4.signed.test. IN A 127.0.0.6", "_25._tcp.mx4.signed.test. IN TLSA " + tlsa(mx3, 3),
		"variants.signed.test. IN MX 10 mx5.signed.test.", "variants.signed.test. IN MX 20 mx6.signed.test.", "variants.signed.test. IN MX 30 mx7.signed.test.",
		"variants.signed.test. IN MX 40 mx8.signed.test.",
		"mx5.signed.test. IN A 127.0.0.7", "_25._tcp.mx5.signed.test. IN TLSA " + tlsaOf(mx5.Cert, dane.UsageDANEEE, dane.SelectorCert, dane.MatchingSHA256),
		"mx6.signed.test. IN A 127.0.0.8", "_25._tcp.mx6.signed.test. IN TLSA " + tlsaOf(mx6.Cert, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchingSHA512),
		"mx7.signed.test. IN A 127.0.0.11", "_25._tcp.mx7.signed.test. IN TLSA " + tlsaOf(mx7.Cert, dane.UsageDANEEE, dane.SelectorCert, dane.MatchingFull),
		"mx8.signed.test. IN A 127.0.0.12", "_25._tcp.mx8.signed.test. IN TLSA " + tlsaOf(ca.Cert, dane.UsageDANETA, dane.SelectorSPKI, dane.MatchingSHA256),
		"foreignta.signed.test. IN MX 10 mx9.signed.test.",
		"mx9.signed.test. IN A 127.0.0.13", "_25._tcp.mx9.signed.test. IN TLSA " + tlsaOf(otherCA.Cert, dane.UsageDANETA, dane.SelectorSPKI, dane.MatchingSHA256),
		"tlsabogus.signed.test. IN MX 10 mx.bogus.test.",
		"ststest.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.ststest.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.ststest.signed.test. IN A 127.0.0.10",
		"stsage.signed.test. IN MX 10 mx1.signed.test.", "_mta-sts.stsage.signed.test. IN TXT \"v=STSv1; id=1\"", "mta-sts.stsage.signed.test. IN A 127.0.0.10",
	}
	d, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{
		{Origin: "signed.test", Records: signed},
		{Origin: "unsigned.test", Signing: dnslab.Unsigned, Records: []string{"unsigned.test. IN MX 10 mx.unsigned.test.", "mx.unsigned.test. IN A 127.0.0.5",
			"_25._tcp.mx.unsigned.test. IN TLSA " + tlsa(mxu, 3)}},
		{Origin: "bogus.test", Signing: dnslab.Bogus, Records: []string{"bogus.test. IN MX 10 mx1.signed.test.",
			"mx.bogus.test. IN A 127.0.0.14", "_25._tcp.mx.bogus.test. IN TLSA " + tlsa(mxb, 3)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &outsideLab{dns: d, ca: ca, mxPort: port, httpPort: hl.Addr().(*net.TCPAddr).Port, mx1: mx1}
}

func (l *outsideLab) check(domain, resolver string) *MailDomain {
	return &MailDomain{Domain: domain, Resolver: &resolve.Resolver{Addr: resolver}, MXPort: l.mxPort, HTTPSPort: l.httpPort, Roots: l.ca.Pool(),
		Probe: smtpprobe.Options{Timeout: 20 * time.Second, RootCAs: l.ca.Pool()}}
}

func codesOf(fs []*mxv1.Finding) map[string]*mxv1.Finding {
	m := map[string]*mxv1.Finding{}
	for _, f := range fs {
		m[f.GetCode()] = f
	}
	return m
}

// Every domain-check finding, produced against the lab.
func TestMailDomainAgainstDNSSECLab(t *testing.T) {
	l := startOutsideLab(t)
	// has: some finding of code has want as its severity, subject or in
	// its evidence at key.
	has := func(code, key, want string) func(*testing.T, []*mxv1.Finding) {
		return func(t *testing.T, fs []*mxv1.Finding) {
			t.Helper()
			for _, f := range fs {
				if f.GetCode() != code {
					continue
				}
				if key == "severity" && f.GetSeverity().String() == want || key == "subject" && f.GetSubject() == want ||
					key != "severity" && key != "subject" && strings.Contains(f.GetEvidence()[key], want) {
					return
				}
			}
			t.Errorf("no %s with %s %q in %v", code, key, want, fs)
		}
	}
	produced := map[finding.Code]bool{}
	for _, c := range []struct {
		domain   string
		resolver string
		want     []string
		not      []string
		also     []func(*testing.T, []*mxv1.Finding)
	}{
		{"ok.signed.test", l.dns.Resolver, nil, []string{"DANE_TLSA_MISMATCH", "MTASTS_MX_NOT_COVERED", "MTASTS_NO_POLICY", "TLSRPT_RECORD_MISSING", "DNS_RESOLVER_NOT_VALIDATING", "MTASTS_CERT_NAME_NOT_COVERED"}, nil},
		{"renewed.signed.test", l.dns.Resolver, []string{"DANE_TLSA_MISMATCH", "MTASTS_NO_POLICY", "TLSRPT_RECORD_MISSING"}, nil,
			[]func(*testing.T, []*mxv1.Finding){has("DANE_TLSA_MISMATCH", "subject", "mx2.signed.test:25"), has("DANE_TLSA_MISMATCH", "expected_tlsa", "3 1 1 ")}},
		// 3 0 1, 3 1 2, 3 0 0 (an answer too large for UDP: read over TCP)
		// and 2 1 1 of the CA in the chain all authenticate their MX.
		{"variants.signed.test", l.dns.Resolver, nil, []string{"DANE_TLSA_MISMATCH", "DANE_TLSA_UNUSABLE", "DANE_STARTTLS_FAILED", "DNS_LOOKUP_FAILED", "DANE_TLSA_UNSIGNED"}, nil},
		{"foreignta.signed.test", l.dns.Resolver, []string{"DANE_TLSA_MISMATCH"}, nil,
			[]func(*testing.T, []*mxv1.Finding){has("DANE_TLSA_MISMATCH", "subject", "mx9.signed.test:25"), has("DANE_TLSA_MISMATCH", "reason", "above the leaf")}},
		{"pkix.signed.test", l.dns.Resolver, []string{"DANE_TLSA_UNUSABLE", "TLSRPT_RECORD_INVALID"}, []string{"DANE_TLSA_MISMATCH"}, nil},
		{"sts.signed.test", l.dns.Resolver, []string{"MTASTS_MX_NOT_COVERED", "MTASTS_CERT_NAME_NOT_COVERED"}, nil,
			[]func(*testing.T, []*mxv1.Finding){has("MTASTS_MX_NOT_COVERED", "severity", "SEVERITY_CRITICAL"), has("MTASTS_CERT_NAME_NOT_COVERED", "names", "mail-new.signed.test")}},
		{"ststest.signed.test", l.dns.Resolver, []string{"MTASTS_MX_NOT_COVERED"}, nil,
			[]func(*testing.T, []*mxv1.Finding){has("MTASTS_MX_NOT_COVERED", "severity", "SEVERITY_WARNING"), has("MTASTS_MX_NOT_COVERED", "mode", "testing")}},
		{"stsexp.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_WEBPKI_INVALID"}, []string{"MTASTS_MX_NOT_COVERED"},
			[]func(*testing.T, []*mxv1.Finding){has("MTASTS_POLICY_WEBPKI_INVALID", "error", "expired")}},
		{"unsigned.test", l.dns.Resolver, []string{"DANE_TLSA_UNSIGNED"}, []string{"DANE_TLSA_MISMATCH"}, nil},
		{"bogus.test", l.dns.Resolver, []string{"DNSSEC_BOGUS"}, []string{"MAIL_DOMAIN_NO_MX"}, nil},
		// A signed domain whose MX is in a bogus zone: its TLSA (and
		// address) fail validation; nothing is said about matching.
		{"tlsabogus.signed.test", l.dns.Resolver, []string{"DNSSEC_BOGUS"}, []string{"DANE_TLSA_MISMATCH", "DANE_TLSA_UNSIGNED", "MX_NO_ADDRESS"},
			[]func(*testing.T, []*mxv1.Finding){has("DNSSEC_BOGUS", "subject", "_25._tcp.mx.bogus.test"), has("DNSSEC_BOGUS", "rrtype", "TLSA")}},
		{"stsbad.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_INVALID"}, nil, []func(*testing.T, []*mxv1.Finding){has("MTASTS_POLICY_INVALID", "error", "mode")}},
		{"stsage.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_INVALID"}, nil, []func(*testing.T, []*mxv1.Finding){has("MTASTS_POLICY_INVALID", "error", "max_age")}},
		{"sts404.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_FETCH_FAILED"}, nil, nil},
		{"twosts.signed.test", l.dns.Resolver, []string{"MTASTS_RECORD_INVALID"}, nil, nil},
		{"nomx.signed.test", l.dns.Resolver, []string{"MAIL_DOMAIN_NO_MX"}, nil, nil},
		{"noaddr.signed.test", l.dns.Resolver, []string{"MX_NO_ADDRESS"}, nil, nil},
		{"starttls.signed.test", l.dns.Resolver, []string{"DANE_STARTTLS_FAILED"}, []string{"DANE_TLSA_MISMATCH"}, nil},
		// knot refuses names outside its zones: a failed lookup, not "no MX".
		{"elsewhere.example", l.dns.Authoritative, []string{"DNS_LOOKUP_FAILED"}, []string{"MAIL_DOMAIN_NO_MX", "MTASTS_NO_POLICY"}, nil},
		// knot answers with signatures but never validates: never "secure".
		{"ok.signed.test", l.dns.Authoritative, []string{"DNS_RESOLVER_NOT_VALIDATING"}, []string{"DANE_TLSA_MISMATCH"}, nil},
	} {
		fs, err := l.check(c.domain, c.resolver).Run(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", c.domain, err)
		}
		got := codesOf(fs)
		for _, w := range c.want {
			if got[w] == nil {
				t.Errorf("%s via %s: no %s in %v\n%s", c.domain, c.resolver, w, fs, l.dns.Logs())
			}
			produced[finding.Code(w)] = true
		}
		for _, n := range c.not {
			if got[n] != nil {
				t.Errorf("%s via %s: unexpected %v", c.domain, c.resolver, got[n])
			}
		}
		for _, f := range c.also {
			f(t, fs)
		}
		if f := got["MTASTS_MX_NOT_COVERED"]; f != nil && c.domain == "sts.signed.test" && f.GetSeverity() != mxv1.Severity_SEVERITY_CRITICAL {
			t.Errorf("enforce mode not critical: %v", f)
		}
	}
	// The full-certificate TLSA answer does not fit a UDP datagram: the
	// resolver truncates it and the check read it over TCP.
	q := new(dns.Msg)
	q.SetQuestion("_25._tcp.mx7.signed.test.", dns.TypeTLSA)
	q.SetEdns0(1232, true)
	if r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, l.dns.Resolver); err != nil || !r.Truncated {
		t.Errorf("3 0 0 answer over UDP: truncated %v, %v (the TCP path is not exercised)", r != nil && r.Truncated, err)
	}
	// Every code this test stands for (coverage_test.go dnsLabCodes) is
	// produced above, except the rollover codes of
	// TestMailDomainWarnsTLSAWillNotMatchRenewal.
	for c := range dnsLabCodes {
		if !produced[c] && c != finding.DANETLSANextMismatch && c != finding.DANENextCertUnchecked {
			t.Errorf("%s is listed as produced against the DNSSEC lab, but no case here produces it", c)
		}
	}
}
