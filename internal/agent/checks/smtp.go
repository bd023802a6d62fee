package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"maps"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/revocation"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
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
	// Revocation, when set, checks the revocation of the presented chain
	// (stapled OCSP, AIA OCSP, CRL); nil skips it.
	Revocation *revocation.Checker
}

func (c *SMTPProbe) Name() string   { return "smtp_probe" }
func (c *SMTPProbe) Target() string { return c.URL }

// Run probes; a failing endpoint is a finding, not an error.
func (c *SMTPProbe) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	fs, _, err := c.RunSession(ctx)
	return fs, err
}

// RunSession probes and also reports the TLS session negotiated, when a
// handshake completed (the controller exports it as the probe's TLS version).
func (c *SMTPProbe) RunSession(ctx context.Context) ([]*mxv1.Finding, *mxv1.TLSSession, error) {
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
	var pc diagnose.ProbeContext
	if c.ClientCert != nil {
		pc.ClientCertConnector = c.ClientCert.Connector
	}
	fs := diagnose.SMTPProbeIn(&r, pc, c.Diag)
	if c.Revocation != nil && r.TLS != nil && revocable(r.TLS.PeerCertificates, r.TLS.OCSPStaple) {
		res := c.Revocation.Check(ctx, r.TLS.PeerCertificates, anchors(r.TLS.PeerCertificates, opts.RootCAs), r.TLS.OCSPStaple)
		fs = append(fs, diagnose.Revocation(res, r.Target, c.Diag)...)
	}
	var sess *mxv1.TLSSession
	if r.TLS != nil && r.TLS.Version != 0 { // set once the handshake completed
		sess = &mxv1.TLSSession{Version: tls.VersionName(r.TLS.Version), CipherSuite: r.TLS.CipherSuiteName}
		if len(r.TLS.PeerCertificates) > 0 {
			sess.LeafThumbprint = thumbprint.Of(r.TLS.PeerCertificates[0])
		}
	}
	for _, f := range fs {
		if len(extra) > 0 {
			if f.Evidence == nil {
				f.Evidence = map[string]string{}
			}
			maps.Copy(f.Evidence, extra)
		}
	}
	return fs, sess, nil
}

// anchors returns the root that completes the presented chain (servers do
// not send it), so the top intermediate's revocation can be checked too;
// nil when the chain does not verify.
func anchors(chain []*x509.Certificate, roots *x509.CertPool) []*x509.Certificate {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	// Validity is judged elsewhere; verify at a time the leaf was valid.
	vs, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: leaf.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(vs) == 0 {
		return nil
	}
	v := vs[0]
	return v[len(v)-1:]
}

// revocable: some certificate of the chain names a revocation source, or
// the server stapled an answer (otherwise there is nothing to check).
func revocable(chain []*x509.Certificate, staple []byte) bool {
	if len(chain) == 0 {
		return false
	}
	if len(staple) > 0 {
		return true
	}
	for _, c := range chain {
		if len(c.OCSPServer) > 0 || len(c.CRLDistributionPoints) > 0 {
			return true
		}
	}
	return false
}
