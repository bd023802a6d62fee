package diagnose

import (
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// A handshake overrides an ambiguous receive connector's simulated choice
// only when it was with that connector's server: another Edge server behind
// the same name may hold the same certificates and answer instead.
func TestHandshakeObservationNeedsThisServer(t *testing.T) {
	const a, b = "AAAA000000000000000000000000000000000000", "BBBB000000000000000000000000000000000000"
	for _, tc := range []struct {
		endpoint string
		follows  bool
	}{
		{"edge01.contoso.com:25", true},
		{"EDGE01:25", true},
		{"127.0.0.1:25", true},
		{"[::1]:25", true},
		{"edge02.contoso.com:25", false},
		{"mail.contoso.com:25", false}, // the connector's Fqdn, shared behind a load balancer
		{"203.0.113.5:25", false},
	} {
		amb := &mxv1.Finding{Code: string(finding.ConnectorCertAmbiguous), Subject: `EDGE01\Inbound`, Severity: mxv1.Severity_SEVERITY_ERROR,
			Summary: "TlsCertificateName of receive connector \"Inbound\" on edge01.contoso.com matches 2 certificates (" + a + ", " + b + "); transport picks " + b,
			Evidence: map[string]string{finding.EvConnector: "Inbound", finding.EvConnectorKind: "receive", finding.EvCandidates: a + "," + b, finding.EvSelected: b,
				finding.EvServerName: "EDGE01", finding.EvServerFqdn: "edge01.contoso.com", "lookup_name": "mail.contoso.com"}}
		shake := &mxv1.Finding{Code: string(finding.CertExpired), Subject: a, Severity: mxv1.Severity_SEVERITY_CRITICAL,
			Evidence: map[string]string{"origin": "presented", "endpoint": tc.endpoint}}
		LinkFindings([]*mxv1.Finding{amb, shake})
		got := strings.Contains(amb.Summary, "a live STARTTLS handshake with "+tc.endpoint+" presented "+a)
		if got != tc.follows || (amb.Evidence[finding.EvSelected] == a) != tc.follows {
			t.Errorf("%s: follows=%v, want %v: %s", tc.endpoint, got, tc.follows, amb.Summary)
		}
	}
}
