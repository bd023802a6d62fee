package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/lab/dnslab"
	"github.com/mxprobe/mxprobe/internal/preflight"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// The checks fed by DNS, with what `agent preflight --mail-domains` reads
// for real: the MX of the mail domain and its _25._tcp TLSA set through the
// validating resolver of the DNSSEC lab, and the MTA-STS policy (the
// _mta-sts TXT record, then the policy over HTTPS from a policy host whose
// certificate chains to --ca-file). Each check with one scenario that
// breaks and one that does not, on the Export-Clixml exports of the matrix
// test (preflight_matrix_test.go).

const pfMX = "mx1.contoso.com"

// pfDNS is one scenario's published data.
type pfDNS struct {
	tlsa   func(s *pfServer) []dane.Record
	policy string // the mta-sts.txt body
}

func tlsaRR(r dane.Record) string {
	return "_25._tcp." + pfMX + ". IN TLSA " + preflight.TLSAValue(r)
}

func ee(t *testing.T, c *x509.Certificate) dane.Record {
	t.Helper()
	r, err := dane.RecordFor(c, 3, dane.SelectorSPKI, dane.MatchingSHA256)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ta(t *testing.T, c *x509.Certificate) dane.Record {
	t.Helper()
	r, err := dane.RecordFor(c, 2, dane.SelectorSPKI, dane.MatchingSHA256)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runDNS serves the scenario and runs agent preflight on it.
func (s *pfServer) runDNS(t *testing.T, d pfDNS) (int, preflight.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s.mint(t)
	policyCA, err := lab.NewCA("Policy Host CA")
	if err != nil {
		t.Fatal(err)
	}
	host, err := policyCA.Issue(lab.IssueOptions{CommonName: "mta-sts.contoso.com", ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, d.policy)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{host.TLSCertificate()}}, ReadHeaderTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(hl, "", "")
	}()
	defer func() {
		_ = srv.Close()
		<-done
	}()
	records := []string{
		"contoso.com. IN MX 10 " + pfMX + ".",
		pfMX + ". IN A 127.0.0.1",
		`_mta-sts.contoso.com. IN TXT "v=STSv1; id=20261203T1200"`,
		"mta-sts.contoso.com. IN A 127.0.0.1",
	}
	if d.tlsa != nil {
		for _, r := range d.tlsa(s) {
			records = append(records, tlsaRR(r))
		}
	}
	l, err := dnslab.Start(ctx, tempdir.New(t), []dnslab.Zone{{Origin: "contoso.com", Records: records}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	caFile := filepath.Join(tempdir.New(t), "policy-ca.pem")
	if err := os.WriteFile(caFile, policyCA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = append(s.args, "--mail-domains", "contoso.com", "--dns-resolver", l.Resolver, "--ca-file", caFile)
	args, _, _ := s.write(t)
	var out, errb bytes.Buffer
	cmd := preflightCmdWith(&out, &errb, preflightLab{httpsPort: hl.Addr().(*net.TCPAddr).Port})
	cmd.SetArgs(args[1:])
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	code := 0
	if err := cmd.ExecuteContext(ctx); err != nil {
		var ee errExit
		if !errors.As(err, &ee) {
			t.Fatalf("preflight: %v\nstderr %s", err, errb.String())
		}
		code = ee.code
	}
	var r preflight.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("exit %d: %v\nstderr %s\n%s", code, err, errb.String(), out.String())
	}
	return code, r, reportText(r)
}

func TestPreflightDNSChecksBreakAndPass(t *testing.T) {
	if err := dnslab.Available(); err != nil {
		t.Skip(err)
	}
	const wild = "version: STSv1\nmode: enforce\nmx: *.contoso.com\nmax_age: 604800\n"
	withMX := func(s *pfServer) {
		s.oldOpts.DNSNames = append(append([]string{}, pfNames...), pfMX)
		s.newOpts.DNSNames = s.oldOpts.DNSNames
	}
	cases := []struct {
		name  string
		setup func(*pfServer)
		dns   pfDNS
		check string
		want  preflight.Status
		about string
		exit  int
	}{
		{name: "3 1 1 of the old key only", setup: withMX, check: preflight.CheckDANE, want: preflight.Fail, about: "none of which match the new certificate", exit: 2,
			dns: pfDNS{policy: wild, tlsa: func(s *pfServer) []dane.Record { return []dane.Record{ee(t, s.old.Cert)} }}},
		{name: "3 1 1 of the new key published next to the old", setup: withMX, check: preflight.CheckDANE, want: preflight.Pass, about: "already publishes 3 1 1",
			dns: pfDNS{policy: wild, tlsa: func(s *pfServer) []dane.Record { return []dane.Record{ee(t, s.old.Cert), ee(t, s.n.Cert)} }}},
		{name: "2 1 1 of the issuing CA, renewed there", setup: withMX, check: preflight.CheckDANE, want: preflight.Pass, about: "already publishes 2 1 1",
			dns: pfDNS{policy: wild, tlsa: func(s *pfServer) []dane.Record { return []dane.Record{ta(t, s.issuing.Cert)} }}},
		{name: "2 1 1 of the issuing CA, renewed through another CA", check: preflight.CheckDANE, want: preflight.Fail, about: "none of which match", exit: 2,
			setup: func(s *pfServer) { withMX(s); s.newCA = s.other },
			dns:   pfDNS{policy: wild, tlsa: func(s *pfServer) []dane.Record { return []dane.Record{ta(t, s.issuing.Cert)} }}},
		{name: "no TLSA published", setup: withMX, check: preflight.CheckDANE, want: preflight.Info, about: "no TLSA records",
			dns: pfDNS{policy: wild}},

		{name: "enforced mx: pattern matched", setup: withMX, check: preflight.CheckNames, want: preflight.Pass,
			about: "MTA-STS policy of contoso.com (fetched: https://mta-sts.contoso.com/.well-known/mta-sts.txt): mx: *.contoso.com is matched",
			dns:   pfDNS{policy: wild}},
		{name: "enforced mx: host dropped from the SAN", check: preflight.CheckNames, want: preflight.Fail,
			about: "the certificate it replaces matches mx: " + pfMX, exit: 2,
			setup: func(s *pfServer) {
				withMX(s)
				s.newOpts.DNSNames = pfNames
			},
			dns: pfDNS{policy: "version: STSv1\nmode: enforce\nmx: " + pfMX + "\nmax_age: 604800\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			s := newPFServer(t)
			tc.setup(s)
			code, r, text := s.runDNS(t, tc.dns)
			if code != tc.exit {
				t.Errorf("exit %d, want %d\n%s", code, tc.exit, text)
			}
			found := false
			for _, c := range r.Checks {
				found = found || c.ID == tc.check && c.Status == tc.want && strings.Contains(c.Summary, tc.about)
			}
			if !found {
				t.Errorf("no [%s] %s check about %q\n%s", tc.want, tc.check, tc.about, text)
			}
			for _, in := range r.Inputs {
				if in.Error != "" && (strings.HasPrefix(in.Input, "MTA-STS") || strings.HasPrefix(in.Input, "TLSA")) {
					t.Errorf("input not read: %+v", in)
				}
			}
			if tc.check == preflight.CheckDANE && tc.want == preflight.Fail {
				want := "_25._tcp." + pfMX + ". IN TLSA " + preflight.TLSAValue(ee(t, s.n.Cert))
				if len(r.Plan) == 0 || len(r.Plan[0].Commands) == 0 || r.Plan[0].Commands[0] != want {
					t.Errorf("the plan does not publish %q first: %+v", want, r.Plan)
				}
			}
		})
	}
}
