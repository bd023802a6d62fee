package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/dane"
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
	for ip, c := range map[string]*lab.Issued{"127.0.0.2": mx1, "127.0.0.3": renewed, "127.0.0.4": mx3, "127.0.0.5": mxu} {
		s, err := lab.Start(context.Background(), lab.Good, lab.ServerOptions{Addr: net.JoinHostPort(ip, strconv.Itoa(port)), Hostname: c.Cert.Subject.CommonName, CA: ca, Certificate: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	// The MTA-STS policy host, by SNI: an expired certificate for one domain.
	policies := map[string]string{
		"mta-sts.ok.signed.test":     "version: STSv1\nmode: enforce\nmx: mx1.signed.test\nmx: *.signed.test\nmax_age: 604800\n",
		"mta-sts.sts.signed.test":    "version: STSv1\nmode: enforce\nmx: other.signed.test\nmax_age: 604800\n",
		"mta-sts.stsexp.signed.test": "version: STSv1\nmode: enforce\nmx: mx1.signed.test\nmax_age: 604800\n",
		"mta-sts.stsbad.signed.test": "version: STSv1\nmode: strict\nmx: mx1.signed.test\nmax_age: 604800\n",
		"mta-sts.sts404.signed.test": "",
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

	tlsa := func(c *lab.Issued, u uint8) string {
		r, err := dane.RecordFor(c.Cert, u, dane.SelectorSPKI, dane.MatchingSHA256)
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
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
	}
	d, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{
		{Origin: "signed.test", Records: signed},
		{Origin: "unsigned.test", Signing: dnslab.Unsigned, Records: []string{"unsigned.test. IN MX 10 mx.unsigned.test.", "mx.unsigned.test. IN A 127.0.0.5",
			"_25._tcp.mx.unsigned.test. IN TLSA " + tlsa(mxu, 3)}},
		{Origin: "bogus.test", Signing: dnslab.Bogus, Records: []string{"bogus.test. IN MX 10 mx1.signed.test."}},
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
	for _, c := range []struct {
		domain   string
		resolver string
		want     []string
		not      []string
	}{
		{"ok.signed.test", l.dns.Resolver, nil, []string{"DANE_TLSA_MISMATCH", "MTASTS_MX_NOT_COVERED", "MTASTS_NO_POLICY", "TLSRPT_RECORD_MISSING", "DNS_RESOLVER_NOT_VALIDATING", "MTASTS_CERT_NAME_NOT_COVERED"}},
		{"renewed.signed.test", l.dns.Resolver, []string{"DANE_TLSA_MISMATCH", "MTASTS_NO_POLICY", "TLSRPT_RECORD_MISSING"}, nil},
		{"pkix.signed.test", l.dns.Resolver, []string{"DANE_TLSA_UNUSABLE", "TLSRPT_RECORD_INVALID"}, []string{"DANE_TLSA_MISMATCH"}},
		{"sts.signed.test", l.dns.Resolver, []string{"MTASTS_MX_NOT_COVERED", "MTASTS_CERT_NAME_NOT_COVERED"}, nil},
		{"stsexp.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_WEBPKI_INVALID"}, []string{"MTASTS_MX_NOT_COVERED"}},
		{"unsigned.test", l.dns.Resolver, []string{"DANE_TLSA_UNSIGNED"}, []string{"DANE_TLSA_MISMATCH"}},
		{"bogus.test", l.dns.Resolver, []string{"DNSSEC_BOGUS"}, []string{"MAIL_DOMAIN_NO_MX"}},
		{"stsbad.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_INVALID"}, nil},
		{"sts404.signed.test", l.dns.Resolver, []string{"MTASTS_POLICY_FETCH_FAILED"}, nil},
		{"twosts.signed.test", l.dns.Resolver, []string{"MTASTS_RECORD_INVALID"}, nil},
		{"nomx.signed.test", l.dns.Resolver, []string{"MAIL_DOMAIN_NO_MX"}, nil},
		{"noaddr.signed.test", l.dns.Resolver, []string{"MX_NO_ADDRESS"}, nil},
		{"starttls.signed.test", l.dns.Resolver, []string{"DANE_STARTTLS_FAILED"}, []string{"DANE_TLSA_MISMATCH"}},
		// knot refuses names outside its zones: a failed lookup, not "no MX".
		{"elsewhere.example", l.dns.Authoritative, []string{"DNS_LOOKUP_FAILED"}, []string{"MAIL_DOMAIN_NO_MX", "MTASTS_NO_POLICY"}},
		// knot answers with signatures but never validates: never "secure".
		{"ok.signed.test", l.dns.Authoritative, []string{"DNS_RESOLVER_NOT_VALIDATING"}, []string{"DANE_TLSA_MISMATCH"}},
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
		}
		for _, n := range c.not {
			if got[n] != nil {
				t.Errorf("%s via %s: unexpected %v", c.domain, c.resolver, got[n])
			}
		}
		if f := got["DANE_TLSA_MISMATCH"]; f != nil && (f.GetSubject() != "mx2.signed.test:25" || !strings.HasPrefix(f.GetEvidence()["expected_tlsa"], "3 1 1 ")) {
			t.Errorf("mismatch finding: %v", f)
		}
		if f := got["MTASTS_MX_NOT_COVERED"]; f != nil && f.GetSeverity() != mxv1.Severity_SEVERITY_CRITICAL {
			t.Errorf("enforce mode not critical: %v", f)
		}
	}
}
