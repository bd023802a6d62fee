package checks

import (
	"context"
	"maps"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
)

// SMTPProbe runs a live STARTTLS probe against one endpoint.
type SMTPProbe struct {
	URL      string // smtp://host:port as configured
	HostPort string // address dialled
	// Endpoint names the endpoint in findings (default HostPort), e.g. the
	// server's FQDN:port when HostPort is an IP or a tunnel.
	Endpoint string
	Opts     smtpprobe.Options
	Diag     diagnose.Options
	// ClientCert, when set, chooses the client certificate per run (the
	// send connector's choice); Opts.ClientCertificate is used otherwise.
	ClientCert *ConnectorClientCert
}

func (c *SMTPProbe) Name() string   { return "smtp_probe" }
func (c *SMTPProbe) Target() string { return c.URL }

// Run probes; a failing endpoint is a finding, not an error.
func (c *SMTPProbe) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	opts := c.Opts
	var extra map[string]string
	if c.ClientCert != nil {
		cert, tp, err := c.ClientCert.Certificate(ctx)
		extra = map[string]string{"client_cert_connector": c.ClientCert.Connector, "client_cert_thumbprint": tp}
		if err != nil {
			// Probe as transport would end up doing: without a certificate.
			extra["client_cert_error"] = err.Error()
		} else {
			opts.ClientCertificate = cert
		}
	}
	r := smtpprobe.Probe(ctx, c.HostPort, opts)
	if c.Endpoint != "" {
		r.Target = c.Endpoint
	}
	fs := diagnose.SMTPProbe(&r, c.Diag)
	for _, f := range fs {
		if len(extra) > 0 {
			if f.Evidence == nil {
				f.Evidence = map[string]string{}
			}
			maps.Copy(f.Evidence, extra)
		}
	}
	return fs, nil
}
