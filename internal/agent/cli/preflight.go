package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/agent/mtasts"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// Exit codes of agent preflight (report's: 0 ok, 2 a break, 1 error).
const preflightBreaks = 2

func preflightCmd(stdout, stderr io.Writer) *cobra.Command {
	return preflightCmdWith(stdout, stderr, preflightLab{})
}

// preflightLab replaces what only a lab needs to (tests): the MTA-STS
// policy hosts' HTTPS port (0: 443), as checks.MailDomainCheck.HTTPSPort.
type preflightLab struct{ httpsPort int }

func preflightCmdWith(stdout, stderr io.Writer, lab preflightLab) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preflight --new-cert FILE",
		Short: "Predict what importing a renewed certificate does to every connector, with a renewal plan (exit 0 nothing breaks, 2 something would, 1 error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := formatOf(cmd)
			if err != nil {
				return err
			}
			files, _ := cmd.Flags().GetStringArray("new-cert")
			if len(files) == 0 {
				return errors.New("--new-cert FILE is required (a PFX, PEM or DER certificate; add the key file as a second --new-cert, or --key-source)")
			}
			ksRaw, _ := cmd.Flags().GetString("key-source")
			ks, ok := preflight.ParseKeySource(ksRaw)
			if !ok {
				return fmt.Errorf("--key-source %q: want file, request or none", ksRaw)
			}
			senderName, _ := cmd.Flags().GetString("tls-sender-certificate-name")
			mx, _ := cmd.Flags().GetStringSlice("mta-sts-mx")
			c, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			if c.ExchangeInventory == "" {
				return errors.New("--exchange-inventory is required: the prediction runs on the server's connector inventory")
			}
			log, err := config.NewLogger(stderr, c.Log)
			if err != nil {
				return err
			}
			b, err := builderFor(c, false, log)
			if err != nil {
				return err
			}
			pw, err := pfxPasswords(c)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			in, err := preflightInput(ctx, b.Exchange(), files, pw)
			if err != nil {
				return err
			}
			in.KeySource = ks
			chainURIs, _ := cmd.Flags().GetStringArray("chain-store")
			if !cmd.Flags().Changed("chain-store") {
				chainURIs = defaultChainStores(b.Exchange())
			}
			in.ChainStores = readChainStores(ctx, chainURIs, pw)
			if ks == preflight.KeyFromRequest {
				reqURI, _ := cmd.Flags().GetString("request-store")
				if !cmd.Flags().Changed("request-store") {
					reqURI = defaultRequestStore(b.Exchange())
				}
				in.Requests = readRequestStore(ctx, reqURI, pw)
			}
			if f, _ := cmd.Flags().GetString("inbound-connectors"); f != "" {
				ics, err := exchcollect.LoadInboundConnectorsFile(f)
				if err != nil {
					return fmt.Errorf("--inbound-connectors: %w", err)
				}
				in.Config.InboundConnectors, in.InboundSource = ics, "Get-InboundConnector export "+f
			}
			if senderName != "" {
				in.SenderNames = []preflight.SenderName{{Value: senderName, Origin: preflight.FromFlag, Where: "--tls-sender-certificate-name"}}
			}
			if len(mx) > 0 {
				in.MTASTS = []preflight.MTASTSPolicy{{Origin: preflight.FromFlag, Where: "--mta-sts-mx", MX: mx}}
			}
			in.Diag = diagnose.Options{ExpiryWarning: c.Expiry.Warning, ExpiryError: c.Expiry.Error, Host: c.Hostname, Now: time.Now()}
			if len(c.MailDomains) > 0 {
				r, err := resolve.New(c.DNSResolver)
				if err != nil {
					return err
				}
				in.TLSA = publishedTLSA(ctx, r, c.MailDomains, in.New)
				if in.MTASTS == nil {
					roots, err := caPool(c.CAFile)
					if err != nil {
						return err
					}
					in.MTASTS = mtastsPolicies(ctx, r, c.MailDomains, roots, lab.httpsPort)
				}
			}
			r, err := preflight.Run(in)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				err = enc.Encode(r)
			} else {
				err = preflight.WriteTable(stdout, r)
			}
			if err != nil {
				return err
			}
			if r.Breaks {
				return errExit{preflightBreaks}
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	addFormatFlag(cmd)
	cmd.Flags().StringArray("new-cert", nil, "the renewed certificate: PFX (password from MXPROBE_PFX_PASSWORD / pfx_password_file), PEM or DER; repeat to add its key or chain file (a comma is part of the path)")
	cmd.Flags().String("key-source", "file", "where the key comes from when --new-cert holds none: file (it is in the files), request (the .cer completes a request made on this server), none")
	cmd.Flags().StringArray("chain-store", nil, "stores holding the server's intermediate and root certificates for the chain check, as certificate store URIs (repeatable; default windows:LocalMachine\\CA and windows:LocalMachine\\Root when the transport store is a windows: store; none reads none)")
	cmd.Flags().String("request-store", "", "with --key-source request: the store of pending certificate requests whose key the .cer completes, as a certificate store URI (default windows:LocalMachine\\REQUEST when the transport store is a windows: store; none: not read, the key check is then not done)")
	cmd.Flags().String("inbound-connectors", "", "Exchange Online's Get-InboundConnector | Export-Clixml (a file or directory), replacing the inventory's inbound connectors: how TlsSenderCertificateName reaches a collected inventory (--exchange-inventory collect cannot read Exchange Online)")
	cmd.Flags().String("tls-sender-certificate-name", "", "override: the Exchange Online inbound connector's TlsSenderCertificateName the certificate must cover (default: read from the inventory's Get-InboundConnector export)")
	cmd.Flags().StringSlice("mta-sts-mx", nil, "override: MTA-STS mx: patterns the certificate must match (repeatable; default: fetched for mail_domains)")
	config.AddFlags(cmd.Flags(), config.AgentCheckKeys())
	return cmd
}

// preflightInput reads the inventory, the stores (concatenated in order)
// and the renewal's files.
func preflightInput(ctx context.Context, src *checks.ExchangeSource, files []string, pw []string) (preflight.Input, error) {
	cfg, err := src.LoadConfig(ctx)
	if err != nil {
		return preflight.Input{}, err
	}
	var store certstore.Contents
	for i, s := range src.Stores {
		if s.Store == nil {
			return preflight.Input{}, fmt.Errorf("certificate store %s: %w", s.URI, errors.Join(checks.ErrNoStore, s.OpenErr))
		}
		ct, err := s.Store.Read(ctx)
		if err != nil {
			return preflight.Input{}, fmt.Errorf("certificate store %s: %w", s.URI, err)
		}
		if i == 0 {
			store = ct
			continue
		}
		store.Certificates = append(store.Certificates, ct.Certificates...)
		store.Problems = append(store.Problems, ct.Problems...)
	}
	n, err := certstore.ReadFiles(ctx, files, certstore.Options{PFXPasswords: pw})
	if err != nil {
		return preflight.Input{}, err
	}
	return preflight.Input{Config: cfg, Store: store, New: n, NewFile: files[0]}, nil
}

// defaultChainStores are the server's CA and Root stores when transport's
// store is read live from Windows (a snapshot or PEM directory says
// nothing about the server's other stores).
func defaultChainStores(src *checks.ExchangeSource) []string {
	for _, s := range src.Stores {
		if strings.HasPrefix(s.URI, certstore.SchemeWindows+":") {
			return []string{certstore.SchemeWindows + `:LocalMachine\CA`, certstore.SchemeWindows + `:LocalMachine\Root`}
		}
	}
	return nil
}

// defaultRequestStore is the server's LocalMachine\REQUEST when transport's
// store is read live from Windows ("" otherwise: not read).
func defaultRequestStore(src *checks.ExchangeSource) string {
	for _, s := range src.Stores {
		if strings.HasPrefix(s.URI, certstore.SchemeWindows+":") {
			return certstore.SchemeWindows + `:LocalMachine\REQUEST`
		}
	}
	return ""
}

// readRequestStore reads the pending requests (nil when none is to be
// read); a store that cannot be read is reported in the key check.
func readRequestStore(ctx context.Context, uri string, pw []string) *preflight.RequestStore {
	if uri = strings.TrimSpace(uri); uri == "" || strings.EqualFold(uri, "none") {
		return nil
	}
	rs := &preflight.RequestStore{URI: uri}
	st, err := certread.Open(uri, certstore.Options{PFXPasswords: pw})
	if err == nil {
		var ct certstore.Contents
		if ct, err = st.Read(ctx); err == nil {
			rs.Entries = ct.Certificates
		}
	}
	if err != nil {
		rs.Err = err.Error()
	}
	return rs
}

// readChainStores reads the stores of issuing certificates; one that
// cannot be opened or read is reported, not fatal (the chain check then
// says what it did not see).
func readChainStores(ctx context.Context, uris []string, pw []string) []preflight.ChainStore {
	var out []preflight.ChainStore
	for _, u := range uris {
		if u = strings.TrimSpace(u); u == "" || strings.EqualFold(u, "none") {
			continue
		}
		cs := preflight.ChainStore{URI: u}
		st, err := certread.Open(u, certstore.Options{PFXPasswords: pw})
		if err == nil {
			var ct certstore.Contents
			if ct, err = st.Read(ctx); err == nil {
				for _, c := range ct.Certificates {
					cs.Certs = append(cs.Certs, c.Cert)
				}
			}
		}
		if err != nil {
			cs.Err = err.Error()
		}
		out = append(out, cs)
	}
	return out
}

// publishedTLSA reads _25._tcp TLSA of the mail domains' MX hosts that the
// new certificate names (all MX hosts when it names none).
func publishedTLSA(ctx context.Context, r *resolve.Resolver, domains []string, n certstore.Contents) []preflight.TLSA {
	var all, named []string
	for _, d := range domains {
		a := r.Lookup(ctx, d, dns.TypeMX)
		for _, rr := range a.Records {
			if mx, ok := rr.(*dns.MX); ok {
				h := strings.TrimSuffix(strings.ToLower(mx.Mx), ".")
				all = append(all, h)
				for _, c := range n.Certificates {
					if !c.Cert.IsCA && exchange.MatchCertificateName(c.Cert, h) != exchange.NameNoMatch {
						named = append(named, h)
					}
				}
			}
		}
	}
	hosts := named
	if len(hosts) == 0 {
		hosts = all
	}
	var out []preflight.TLSA
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		t := preflight.TLSA{Host: h}
		a := r.Lookup(ctx, "_25._tcp."+h, dns.TypeTLSA)
		if a.Err != nil {
			t.Err = a.Err.Error()
		}
		for _, rr := range a.Records {
			if x, ok := rr.(*dns.TLSA); ok {
				if rec, err := dane.FromRR(x); err == nil {
					t.Records = append(t.Records, rec)
				}
			}
		}
		out = append(out, t)
	}
	if out == nil {
		out = []preflight.TLSA{}
	}
	return out
}

// mtastsPolicies reads the mail domains' MTA-STS policies the way the
// mail_domain check does (checks.ReadMTASTS); httpsPort 0 is 443.
func mtastsPolicies(ctx context.Context, r *resolve.Resolver, domains []string, roots *x509.CertPool, httpsPort int) []preflight.MTASTSPolicy {
	out := []preflight.MTASTSPolicy{}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		m := checks.ReadMTASTS(ctx, r, d, roots, httpsPort)
		p := preflight.MTASTSPolicy{Domain: d, Origin: preflight.Fetched, Where: "_mta-sts." + d + " TXT"}
		switch {
		case errors.Is(m.RecordErr, mtasts.ErrNoRecord):
			p.NoPolicy = true
		case m.RecordErr != nil:
			p.Err = m.RecordErr.Error()
		default:
			if m.Policy != nil {
				p.Where = m.Policy.URL
			}
			switch {
			case m.PolicyErr != nil:
				p.Err = m.PolicyErr.Error()
			case m.Policy == nil || m.Policy.Policy == nil:
				p.Err = "no policy fetched"
			default:
				p.Mode, p.MX = string(m.Policy.Policy.Mode), m.Policy.Policy.MX
			}
		}
		out = append(out, p)
	}
	return out
}

// caPool loads ca_file (nil without one: the system roots), as the checks do.
func caPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return p, nil
}
