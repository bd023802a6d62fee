package checks

import (
	"context"

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
}

func (c *SMTPProbe) Name() string   { return "smtp_probe" }
func (c *SMTPProbe) Target() string { return c.URL }

// Run probes; a failing endpoint is a finding, not an error.
func (c *SMTPProbe) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	r := smtpprobe.Probe(ctx, c.HostPort, c.Opts)
	if c.Endpoint != "" {
		r.Target = c.Endpoint
	}
	return diagnose.SMTPProbe(&r, c.Diag), nil
}
