package smtpprobe

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

// tlsRecorder captures what a handshake revealed: the presented chain
// (before and regardless of verification) and the server's client
// certificate request. Its callbacks run on the handshaking goroutine.
type tlsRecorder struct {
	clientCert    *tls.Certificate
	peer          []*x509.Certificate
	staple        []byte
	requested     bool
	presented     bool
	acceptableCAs []string
}

func (r *tlsRecorder) verifyConnection(cs tls.ConnectionState) error {
	r.peer = cs.PeerCertificates
	r.staple = cs.OCSPResponse
	return nil
}

func (r *tlsRecorder) getClientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.requested = true
	r.acceptableCAs = distinguishedNames(cri.AcceptableCAs)
	if r.clientCert != nil {
		r.presented = true
		return r.clientCert, nil
	}
	return &tls.Certificate{}, nil
}

func distinguishedNames(ders [][]byte) []string {
	var out []string
	for _, der := range ders {
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		out = append(out, n.String())
	}
	return out
}

// isCertAlert reports alerts a server sends about a client certificate:
// bad/unsupported/revoked/expired/unknown certificate, unknown CA,
// certificate required, access denied, and the generic handshake failure
// (Go's TLS 1.2 server sends that for a missing certificate). Callers only
// ask once the server has requested a certificate, which happens after
// version and cipher negotiation, so a handshake failure at that point is
// about the client certificate.
func isCertAlert(alert string) bool {
	return strings.Contains(alert, "certificate") || strings.Contains(alert, "access denied") ||
		strings.Contains(alert, "handshake failure")
}
