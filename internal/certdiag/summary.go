package certdiag

import (
	"crypto/x509"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Bounds of a store listing sent to the controller (the controller refuses
// more: internal/controller/ingest).
const (
	MaxSummaries       = 1000
	maxSummaryDNSNames = 32
	maxSummaryText     = 1024
)

// Summaries lists every certificate of a store inventory for the
// controller's fleet inventory: the same fields findings carry as evidence,
// bounded (the first MaxSummaries certificates; long names clipped).
func Summaries(inv certstore.Contents) []*mxv1.CertificateSummary {
	out := make([]*mxv1.CertificateSummary, 0, min(len(inv.Certificates), MaxSummaries))
	for _, c := range inv.Certificates {
		if len(out) == MaxSummaries {
			break
		}
		if c.Cert == nil {
			continue
		}
		s := &mxv1.CertificateSummary{
			Thumbprint: c.Thumbprint, Subject: text.Clip(c.Cert.Subject.String(), maxSummaryText), Issuer: text.Clip(c.Cert.Issuer.String(), maxSummaryText),
			Serial: text.Clip(fmt.Sprintf("%X", c.Cert.SerialNumber), 128), NotBefore: timestamppb.New(c.Cert.NotBefore), NotAfter: timestamppb.New(c.Cert.NotAfter),
			HasPrivateKey: c.HasPrivateKey, KeyStatus: c.Key.String(), Store: text.Clip(inv.Location, maxSummaryText),
			FriendlyName: text.Clip(c.FriendlyName, 256),
		}
		for _, n := range c.Cert.DNSNames[:min(len(c.Cert.DNSNames), maxSummaryDNSNames)] {
			s.DnsNames = append(s.DnsNames, text.Clip(n, 255))
		}
		for _, v := range c.Services[:min(len(c.Services), 16)] {
			s.Services = append(s.Services, text.Clip(v, 64))
		}
		out = append(out, s)
	}
	return out
}

// Bounds of the DER carried in a transport listing (TransportSummaries);
// the controller refuses more.
const (
	MaxSummaryDER        = 16 << 10
	MaxSummaryDERListing = 512 << 10
)

// TransportSummaries lists the stores Exchange transport reads, in
// enumeration order, with each certificate's DER and the transport
// account's key access, for the controller's renewal pre-flight. A
// certificate over MaxSummaryDER, or past MaxSummaryDERListing in total,
// is listed without DER (the controller then cannot simulate that server).
func TransportSummaries(stores []certstore.Contents) []*mxv1.CertificateSummary {
	var out []*mxv1.CertificateSummary
	budget := MaxSummaryDERListing
	for _, st := range stores {
		i := 0
		for _, s := range Summaries(st) {
			for st.Certificates[i].Cert == nil || st.Certificates[i].Thumbprint != s.GetThumbprint() {
				i++
			}
			c := st.Certificates[i]
			i++
			if len(out) == MaxSummaries {
				return out
			}
			if n := len(c.Cert.Raw); n <= MaxSummaryDER && n <= budget {
				s.Der, budget = c.Cert.Raw, budget-n
			}
			if c.TransportCanReadKey != nil {
				s.TransportKeyAccess = KeyAccessDenied
				if *c.TransportCanReadKey {
					s.TransportKeyAccess = KeyAccessReadable
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// Values of CertificateSummary.transport_key_access.
const (
	KeyAccessReadable = "readable"
	KeyAccessDenied   = "denied"
)

// ErrNoDER: a certificate of a transport listing came without DER, so the
// store cannot be rebuilt from it.
var ErrNoDER = errors.New("the store listing lacks a certificate's DER (listing over 512 KiB, or an agent older than the pre-flight)")

// ContentsOf rebuilds the store TransportSummaries listed (the controller's
// renewal pre-flight simulates on it): every certificate needs its DER.
func ContentsOf(summaries []*mxv1.CertificateSummary) (certstore.Contents, error) {
	var st certstore.Contents
	for _, s := range summaries {
		if st.Location == "" {
			st.Location = s.GetStore()
		}
		if len(s.GetDer()) == 0 {
			return certstore.Contents{}, fmt.Errorf("%s: %w", s.GetThumbprint(), ErrNoDER)
		}
		x, err := x509.ParseCertificate(s.GetDer())
		if err != nil {
			return certstore.Contents{}, fmt.Errorf("certificate %s: %w", s.GetThumbprint(), err)
		}
		key, _ := certstore.ParseKeyStatus(s.GetKeyStatus())
		c := certstore.Certificate{Thumbprint: s.GetThumbprint(), Cert: x, HasPrivateKey: s.GetHasPrivateKey(), Key: key,
			Source: s.GetStore(), Sources: []string{s.GetStore()}, FriendlyName: s.GetFriendlyName(), Services: s.GetServices()}
		switch s.GetTransportKeyAccess() {
		case KeyAccessReadable:
			c.TransportCanReadKey = ptr(true)
		case KeyAccessDenied:
			c.TransportCanReadKey = ptr(false)
		}
		st.Certificates = append(st.Certificates, c)
	}
	return st, nil
}

func ptr[T any](v T) *T { return &v }
