package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

func TestParseRecords(t *testing.T) {
	for _, c := range []struct {
		txts []string
		id   string
		err  error
	}{
		{[]string{"v=STSv1; id=20261201T000000"}, "20261201T000000", nil},
		{[]string{"v=spf1 -all", " v=STSv1;id=abc123; ", "google-site-verification=x"}, "abc123", nil},
		{nil, "", ErrNoRecord},
		{[]string{"v=spf1 -all"}, "", ErrNoRecord},
		{[]string{"v=STSv1; id=1", "v=STSv1; id=2"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id="}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=2026-12-01"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id"}, "", ErrRecordInvalid},
	} {
		r, err := ParseRecords(c.txts)
		if !errors.Is(err, c.err) || c.err == nil && r.ID != c.id {
			t.Errorf("ParseRecords(%q) = %+v, %v; want id %q, %v", c.txts, r, err, c.id, c.err)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy("version: STSv1\r\nmode: enforce\r\nmx: Mail.Contoso.com.\r\nmx: *.backup.contoso.com\r\nmax_age: 604800\r\n")
	if err != nil || p.Mode != ModeEnforce || p.MaxAge != 604800 || strings.Join(p.MX, ",") != "mail.contoso.com,*.backup.contoso.com" {
		t.Fatalf("ParsePolicy = %+v, %v", p, err)
	}
	if p, err := ParsePolicy("version: STSv1\nmode: none\nmax_age: 86400\n"); err != nil || p.Mode != ModeNone {
		t.Fatalf("mode none without mx: %+v, %v", p, err)
	}
	for body, want := range map[string]string{
		"mode: enforce\nmx: a.example\nmax_age: 1\n":                                                         "version",
		"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n":                                         "version",
		"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n":                                          "mode",
		"version: STSv1\nmx: a.example\nmax_age: 1\n":                                                        "mode",
		"version: STSv1\nmode: testing\nmx: a.example\n":                                                     "no max_age",
		"version: STSv1\nmode: testing\nmx: a.example\nmax_age: -1\n":                                        "max_age",
		"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1w\n":                                        "max_age",
		"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 31557601\n":                                  "above",
		"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 99999999999999999\n":                         "max_age",
		"version: STSv1\nmode: enforce\nmax_age: 86400\n":                                                    "no mx",
		"version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n":                                          "key: value",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n" + strings.Repeat("x", MaxPolicyBytes+1): "",
	} {
		_, err := ParsePolicy(body)
		if !errors.Is(err, ErrPolicyInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePolicy(%.60q) = %v, want ErrPolicyInvalid naming %q", body, err, want)
		}
	}
}

// RFC 8461 section 4.1: a wildcard matches exactly one leftmost label.
func TestMatch(t *testing.T) {
	pats := []string{"mail.contoso.com", "*.backup.contoso.com"}
	for host, want := range map[string]string{
		"mail.contoso.com": "mail.contoso.com", "MAIL.contoso.com.": "mail.contoso.com", "mx1.backup.contoso.com": "*.backup.contoso.com",
		"backup.contoso.com": "", "a.mx1.backup.contoso.com": "", ".backup.contoso.com": "", "mail2.contoso.com": "", "contoso.com": "",
	} {
		if got := Match(pats, host); got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
	if (&Policy{MX: pats}).Covers("other.contoso.com") {
		t.Error("Covers: other.contoso.com covered")
	}
}

// policyHost is a loopback HTTPS server answering for mta-sts.DOMAIN by
// SNI with a certificate of the lab CA (or none/expired ones).
type policyHost struct {
	ca   *lab.CA
	port int
}

func startPolicyHost(t *testing.T, handler http.HandlerFunc, certs map[string]*lab.Issued) *policyHost {
	t.Helper()
	ca, err := lab.NewCA("mta-sts test CA")
	if err != nil {
		t.Fatal(err)
	}
	tc := map[string]tls.Certificate{}
	opts := map[string]lab.IssueOptions{
		"mta-sts.expired.test": {CommonName: "mta-sts.expired.test", NotAfter: time.Now().Add(-time.Hour)},
		"mta-sts.wrong.test":   {CommonName: "www.wrong.test"},
	}
	for _, d := range []string{"ok", "redirect", "html", "big", "gone"} {
		opts["mta-sts."+d+".test"] = lab.IssueOptions{CommonName: "mta-sts." + d + ".test"}
	}
	for name, o := range opts {
		is, err := ca.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		tc[name] = is.TLSCertificate()
		if certs != nil {
			certs[name] = is
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, ok := tc[hi.ServerName]
		if !ok {
			c = tc["mta-sts.ok.test"]
		}
		return &c, nil
	}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return &policyHost{ca: ca, port: ln.Addr().(*net.TCPAddr).Port}
}

func (p *policyHost) fetch(domain string) (*Fetched, error) {
	return Fetch(context.Background(), domain, FetchOptions{Roots: p.ca.Pool(), Port: p.port, Timeout: 20 * time.Second,
		LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }})
}

// Fetch against a real HTTPS server: the policy, and each way a fetch
// fails with the sentinel the mail_domain check words its finding by.
func TestFetch(t *testing.T) {
	const policy = "version: STSv1\nmode: enforce\nmx: mail.ok.test\nmax_age: 86400\n"
	certs := map[string]*lab.Issued{}
	h := startPolicyHost(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		switch r.Host {
		case "mta-sts.redirect.test":
			http.Redirect(w, r, "https://mta-sts.ok.test/.well-known/mta-sts.txt", http.StatusFound)
		case "mta-sts.html.test":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, policy)
		case "mta-sts.big.test":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, policy+strings.Repeat("# padding\n", MaxPolicyBytes/10+1))
		case "mta-sts.gone.test":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, policy)
		}
	}, certs)
	f, err := h.fetch("OK.test.")
	if err != nil || f.URL != "https://mta-sts.ok.test/.well-known/mta-sts.txt" || f.Policy == nil || !f.Policy.Covers("mail.ok.test") || len(f.Chain) == 0 {
		t.Fatalf("fetch ok.test: %+v, %v", f, err)
	}
	for domain, want := range map[string]error{
		"expired.test": ErrWebPKI, "wrong.test": ErrWebPKI,
		"redirect.test": ErrFetch, "gone.test": ErrFetch,
		"html.test": ErrPolicyInvalid, "big.test": ErrPolicyInvalid,
	} {
		f, err := h.fetch(domain)
		if !errors.Is(err, want) {
			t.Errorf("fetch %s: %v, want %v", domain, err, want)
		}
		if want == ErrWebPKI && (len(f.Chain) == 0 || f.Chain[0].Equal(certs["mta-sts.ok.test"].Cert)) {
			t.Errorf("fetch %s: the chain the host presented is not kept: %v", domain, f.Chain)
		}
	}
	// Roots that do not hold the lab CA: the system's view of a private CA.
	if _, err := Fetch(context.Background(), "ok.test", FetchOptions{Port: h.port, Timeout: 20 * time.Second,
		LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }}); !errors.Is(err, ErrWebPKI) {
		t.Errorf("system roots accepted the lab CA: %v", err)
	}
	// A host without an address is a fetch failure, not a crash.
	if _, err := Fetch(context.Background(), "ok.test", FetchOptions{Port: h.port, Timeout: 20 * time.Second,
		LookupHost: func(context.Context, string) ([]string, error) { return nil, nil }}); !errors.Is(err, ErrFetch) {
		t.Errorf("no address: %v", err)
	}
}

// A policy body is untrusted input: parsing never panics, and a policy it
// accepts holds to the RFC's rules.
func FuzzParsePolicy(f *testing.F) {
	f.Add("version: STSv1\nmode: enforce\nmx: mail.contoso.com\nmx: *.contoso.com\nmax_age: 604800\n")
	f.Add("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n")
	f.Add("version: STSv1\nmode: testing\nmx: a\nmax_age: 31557600\nextension: x\n")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParsePolicy(body)
		if p == nil {
			t.Fatal("nil policy")
		}
		if err != nil {
			if !errors.Is(err, ErrPolicyInvalid) {
				t.Fatalf("error %v does not wrap ErrPolicyInvalid", err)
			}
			return
		}
		if p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone || p.MaxAge < 0 || p.MaxAge > MaxAgeLimit || p.Mode != ModeNone && len(p.MX) == 0 {
			t.Fatalf("accepted %+v", p)
		}
		for _, m := range p.MX {
			_ = Match([]string{m}, m)
		}
	})
}

func FuzzParseRecords(f *testing.F) {
	f.Add("v=STSv1; id=20261201")
	f.Add("v=STSv1;id=;")
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := ParseRecords([]string{txt})
		if err == nil && (r.ID == "" || len(r.ID) > 32) {
			t.Fatalf("accepted %q as id %q", txt, r.ID)
		}
	})
}
