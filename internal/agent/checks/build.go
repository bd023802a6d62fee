package checks

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
)

// ErrNoChecks: the configuration names nothing to check.
var ErrNoChecks = errors.New("checks: nothing to check (give --cert-store or --probe)")

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
}

// Builder turns targets into checks with shared settings.
type Builder struct {
	spec  Spec
	roots *x509.CertPool
}

// NewBuilder validates shared settings (e.g. loads the CA file).
func NewBuilder(spec Spec) (*Builder, error) {
	b := &Builder{spec: spec}
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
	return b, nil
}

// All builds every configured check.
func (b *Builder) All() ([]Check, error) {
	var out []Check
	for _, uri := range b.spec.CertStores {
		st, err := certstore.Open(uri, certstore.Options{PFXPasswords: b.spec.PFXPasswords})
		if err != nil {
			return nil, fmt.Errorf("checks: cert store %q: %w", uri, err)
		}
		out = append(out, &CertStore{URI: uri, Store: st, Opts: b.spec.Diagnose})
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
	return &SMTPProbe{URL: url, HostPort: hp, Diag: b.spec.Diagnose, Opts: smtpprobe.Options{
		Timeout: timeout, EHLOName: b.spec.EHLOName, ExpectName: b.spec.ExpectName, RootCAs: b.roots, ProbeVersions: true,
	}}, nil
}
