package api

import (
	"context"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/fleet"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// defaultStaleAfter is the dashboard's default stale threshold.
const defaultStaleAfter = 2 * time.Minute

// maxExpiringWithin bounds ListCertificates' expiring_within (100 years).
const maxExpiringWithin = 100 * 365 * 24 * time.Hour

// SetStaleAfter sets how long an agent may stay silent before ListSites
// counts it stale (the node uses 3 check intervals plus jitter, like the
// dashboard). Call before serving.
func (s *Service) SetStaleAfter(d time.Duration) { s.staleAfter = d }

// ListSites summarises each site: agents, stale agents, unresolved incidents.
func (s *Service) ListSites(ctx context.Context, req *mxv1.ListSitesRequest) (*mxv1.ListSitesResponse, error) {
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListSites(fw.ctx, req)
	}
	staleAfter := s.staleAfter
	if staleAfter <= 0 {
		staleAfter = defaultStaleAfter
	}
	st := s.node.State()
	// A site-scoped token sees its site, counting the incidents it may see.
	site, _ := siteFilter(ctx, "")
	// Incidents(Filter{}) leaves PENDING out; Sites counts only unresolved ones.
	sites := fleet.Sites(st.Agents(site), visibleIncidents(ctx, st.Incidents(incident.Filter{})), time.Now(), staleAfter)
	resp := &mxv1.ListSitesResponse{Sites: make([]*mxv1.SiteSummary, 0, len(sites))}
	for _, x := range sites {
		if site != "" && !strings.EqualFold(x.Name, site) {
			continue
		}
		resp.Sites = append(resp.Sites, &mxv1.SiteSummary{Site: x.Name, Agents: uint32(x.Agents), StaleAgents: uint32(x.StaleAgents),
			OpenIncidents: uint32(x.OpenIncidents), WorstSeverity: x.WorstSeverity})
	}
	return resp, nil
}

// ListCertificates returns the fleet certificate inventory by identity,
// soonest expiry first.
func (s *Service) ListCertificates(ctx context.Context, req *mxv1.ListCertificatesRequest) (*mxv1.ListCertificatesResponse, error) {
	for name, v := range map[string]string{"site": req.GetSite(), "host": req.GetHost()} {
		if len(v) > 255 {
			return nil, status.Errorf(codes.InvalidArgument, "%s: longer than 255 characters", name)
		}
	}
	var within time.Duration
	if w := req.GetExpiringWithin(); w != nil {
		if err := w.CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "expiring_within: %v", err)
		}
		within = w.AsDuration()
		if within <= 0 || within > maxExpiringWithin {
			return nil, status.Error(codes.InvalidArgument, "expiring_within: must be positive and at most 876000h")
		}
	}
	site, err := siteFilter(ctx, req.GetSite())
	if err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListCertificates(fw.ctx, req)
	}
	f := fleet.CertificateFilter{Site: site, Host: req.GetHost()}
	if within > 0 {
		f.ExpiringBy = time.Now().Add(within)
	}
	// Built from the site's agents only for a scoped token: duplicates and
	// severities then say nothing about other sites either.
	scope := auth.SiteScope(ctx)
	stores, _ := s.node.State().Results(store.ResultFilter{Check: "certstore", Site: scope}, store.ResultKey{}, math.MaxInt)
	inv := fleet.BuildCertificates(s.node.State().Findings(store.FindingFilter{Site: scope}), fleet.Listings(stores)...)
	resp := &mxv1.ListCertificatesResponse{Identities: []*mxv1.CertificateIdentity{}}
	for _, g := range inv.Filter(f) {
		id := &mxv1.CertificateIdentity{Issuer: g.Issuer, Subject: g.Subject, TlsCertificateName: g.Name(),
			Severity: g.Severity, Duplicate: g.Duplicate, SoonestNotAfter: ts(g.SoonestNotAfter())}
		for _, c := range g.Certificates {
			id.Certificates = append(id.Certificates, certificateMsg(c))
		}
		resp.Identities = append(resp.Identities, id)
	}
	return resp, nil
}

func certificateMsg(c *fleet.Certificate) *mxv1.InventoryCertificate {
	m := &mxv1.InventoryCertificate{Thumbprint: c.Thumbprint, Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial,
		DnsNames: c.DNSNames, NotBefore: ts(c.NotBefore), NotAfter: ts(c.NotAfter), Severity: c.Severity, Codes: c.Codes,
		MissingPrivateKey: c.MissingKey}
	for _, in := range c.Installations {
		m.Installations = append(m.Installations, &mxv1.CertificateInstallation{Host: in.Host, Site: in.Site, AgentId: in.AgentID,
			Origin: in.Origin, Store: in.Store, Endpoint: in.Endpoint, PrivateKey: keyState(in.Key), KeyStatus: in.KeyStatus})
	}
	return m
}

func keyState(k fleet.Key) mxv1.PrivateKeyState {
	switch k {
	case fleet.KeyPresent:
		return mxv1.PrivateKeyState_PRIVATE_KEY_STATE_PRESENT
	case fleet.KeyMissing:
		return mxv1.PrivateKeyState_PRIVATE_KEY_STATE_MISSING
	case fleet.KeyNotApplicable:
		return mxv1.PrivateKeyState_PRIVATE_KEY_STATE_NOT_APPLICABLE
	}
	return mxv1.PrivateKeyState_PRIVATE_KEY_STATE_UNSPECIFIED
}

// ts is t as a timestamp, nil when zero.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
