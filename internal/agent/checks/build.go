package checks

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/resolve"
	"github.com/mxprobe/mxprobe/internal/agent/revocation"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/certstore"
)

// DefaultWindowsStore is the store Exchange transport reads.
const DefaultWindowsStore = `windows:LocalMachine\My`

// Spec is what to check, from configuration.
type Spec struct {
	CertStores   []string
	Probes       []string
	ExpectName   string
	CAFile       string
	ProbeTimeout time.Duration
	EHLOName     string
	PFXPasswords []string
	Diagnose     diagnose.Options

	// ExchangeInventory is an inventory file or CollectExchangeConfig ("" off).
	ExchangeInventory string
	// ProtocolLogs are protocol log directories.
	ProtocolLogs []string
	// QueueFile is a Get-Queue export.
	QueueFile string
	// ProbeSendConnector makes probes present the client certificate this
	// send connector would choose (needs ExchangeInventory).
	ProbeSendConnector string
	// TailLogs makes the protocol-log check tail incrementally with state
	// in StateDir (agent run) instead of parsing everything each run.
	TailLogs bool
	StateDir string
	// LogWindow bounds how long a protocol-log failure not seen again stays
	// a finding when tailing (0: until a success clears it).
	LogWindow time.Duration
	// MailDomains are accepted domains for the mail_domain check, looked up
	// through DNSResolver ("" : the system's).
	MailDomains []string
	DNSResolver string
	// EventLog reads the live Event Log (Windows); EventLogFiles are
	// exported .evtx files; EventLogWindow bounds how far back events count.
	EventLog       bool
	EventLogFiles  []string
	EventLogWindow time.Duration
	Logger         *slog.Logger
}

// Builder turns targets into checks with shared settings.
type Builder struct {
	spec   Spec
	roots  *x509.CertPool
	stores []Store
	source *ExchangeSource
	client *ConnectorClientCert
	revoke *revocation.Checker // shared by every probe: its cache outlives a round
}

// NewBuilder validates shared settings (loads the CA file, opens the stores;
// a store that cannot be opened becomes a failing check, not an error here).
func NewBuilder(spec Spec) (*Builder, error) {
	b := &Builder{spec: spec, revoke: revocation.New(revocation.Options{})}
	if spec.CAFile != "" {
		pem, err := os.ReadFile(spec.CAFile)
		if err != nil {
			return nil, fmt.Errorf("checks: ca_file: %w", err)
		}
		b.roots = x509.NewCertPool()
		if !b.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("checks: ca_file %s holds no PEM certificate", spec.CAFile)
		}
	}
	uris := spec.CertStores
	if len(uris) == 0 && spec.ExchangeInventory != "" && runtime.GOOS == "windows" {
		uris = []string{DefaultWindowsStore}
	}
	for _, uri := range uris {
		st, err := certread.Open(uri, certstore.Options{PFXPasswords: spec.PFXPasswords})
		b.stores = append(b.stores, Store{URI: uri, Store: st, OpenErr: err})
	}
	if spec.ExchangeInventory != "" {
		if len(b.stores) == 0 {
			return nil, fmt.Errorf("checks: --exchange-inventory: %w", ErrNoStore)
		}
		b.source = &ExchangeSource{Config: spec.ExchangeInventory, Stores: b.stores}
	}
	if spec.ProbeSendConnector != "" {
		if b.source == nil {
			return nil, fmt.Errorf("checks: probe_send_connector %q needs --exchange-inventory and --cert-store", spec.ProbeSendConnector)
		}
		b.client = &ConnectorClientCert{Source: b.source, Connector: spec.ProbeSendConnector, PFXPasswords: spec.PFXPasswords}
	}
	return b, nil
}

// All builds every configured check: stores, connectors, protocol logs,
// queues, event logs, mail domains, probes (in that order).
func (b *Builder) All() ([]Check, error) {
	var out []Check
	for _, s := range b.stores {
		out = append(out, &CertStore{URI: s.URI, Store: s.Store, OpenErr: s.OpenErr, Opts: b.spec.Diagnose, Exchange: b.source})
	}
	if b.source != nil {
		out = append(out, &Connectors{Source: b.source, Diag: b.spec.Diagnose})
	}
	if len(b.spec.ProtocolLogs) > 0 {
		out = append(out, &ProtocolLogs{
			Dirs: b.spec.ProtocolLogs, Source: b.source, Diag: b.spec.Diagnose, Tail: b.spec.TailLogs,
			StateDir: b.spec.StateDir, MaxAge: b.spec.LogWindow, Logger: b.spec.Logger,
		})
	}
	if b.spec.QueueFile != "" {
		out = append(out, &Queue{File: b.spec.QueueFile, Diag: b.spec.Diagnose})
	}
	if b.spec.EventLog || len(b.spec.EventLogFiles) > 0 {
		el := &EventLog{Window: b.spec.EventLogWindow, Diag: b.spec.Diagnose}
		if b.spec.EventLog {
			el.Sources = append(el.Sources, eventlog.Live{})
		}
		for _, f := range b.spec.EventLogFiles {
			el.Sources = append(el.Sources, &eventlog.File{Path: f})
		}
		out = append(out, el)
	}
	if len(b.spec.MailDomains) > 0 {
		r, err := resolve.New(b.spec.DNSResolver)
		if err != nil {
			return nil, fmt.Errorf("checks: mail_domains: %w", err)
		}
		for _, d := range b.spec.MailDomains {
			out = append(out, &MailDomain{Domain: d, Resolver: r, Roots: b.roots, Diag: b.spec.Diagnose, Stores: b.stores,
				Probe: smtpprobe.Options{Timeout: b.spec.ProbeTimeout, EHLOName: b.spec.EHLOName, RootCAs: b.roots}})
		}
	}
	for _, p := range b.spec.Probes {
		c, err := b.Probe(p, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoChecks
	}
	return out, nil
}

// Probe builds a probe check; timeout 0 uses the spec's.
func (b *Builder) Probe(target string, timeout time.Duration) (Check, error) {
	hp, err := smtpprobe.ParseTarget(target)
	if err != nil {
		return nil, fmt.Errorf("checks: probe %q: %w", target, err)
	}
	if timeout <= 0 {
		timeout = b.spec.ProbeTimeout
	}
	url := target
	if !strings.Contains(url, "://") {
		url = "smtp://" + hp
	}
	return &SMTPProbe{URL: url, HostPort: hp, Diag: b.spec.Diagnose, ClientCert: b.client, Revocation: b.revoke, Opts: smtpprobe.Options{
		Timeout: timeout, EHLOName: b.spec.EHLOName, ExpectName: b.spec.ExpectName, RootCAs: b.roots, ProbeVersions: true,
	}}, nil
}

// Exchange is the inventory and stores exchange_inventory configured, or
// nil without one (agent preflight predicts on the same inputs).
func (b *Builder) Exchange() *ExchangeSource { return b.source }
