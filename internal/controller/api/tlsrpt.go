package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// tlsReportWriter is the store side of report ingestion.
type tlsReportWriter interface {
	ProposeTLSReports(ctx context.Context, reports []*mxv1.TLSReport) (store.TLSReportsResult, error)
}

// ListTLSReports lists stored TLS-RPT reports, newest first, with totals
// per policy domain and reporting organisation.
func (s *Service) ListTLSReports(ctx context.Context, req *mxv1.ListTLSReportsRequest) (*mxv1.ListTLSReportsResponse, error) {
	if err := fleetOnly(ctx, "TLS-RPT (reports are about the mail domains, not one site)"); err != nil {
		return nil, err
	}
	if len(req.GetDomain()) > 255 || len(req.GetOrganization()) > 255 {
		return nil, status.Error(codes.InvalidArgument, "domain, organization: at most 255 characters")
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0 || limit > 1000:
		return nil, status.Error(codes.InvalidArgument, "limit: 0 to 1000")
	case limit == 0:
		limit = 100
	}
	return tlsrpt.List(s.node.State().TLSReports(), req.GetDomain(), req.GetOrganization(), limit), nil
}

// ImportTLSReport parses one report (JSON, gzip or .eml) and commits it.
func (s *Service) ImportTLSReport(ctx context.Context, req *mxv1.ImportTLSReportRequest) (*mxv1.ImportTLSReportResponse, error) {
	if err := fleetOnly(ctx, "TLS-RPT (reports are about the mail domains, not one site)"); err != nil {
		return nil, err
	}
	if len(req.GetReport()) > tlsrpt.MaxInputBytes {
		return nil, status.Errorf(codes.InvalidArgument, "report: larger than %d bytes", tlsrpt.MaxInputBytes)
	}
	r, err := tlsrpt.Parse(req.GetReport())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	r.Source = "import"
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ImportTLSReport(fw.ctx, req)
	}
	w, ok := s.node.(tlsReportWriter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node cannot store TLS-RPT reports")
	}
	res, err := w.ProposeTLSReports(ctx, []*mxv1.TLSReport{r})
	if err != nil {
		if errors.Is(err, store.ErrNotLeader) {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := &mxv1.ImportTLSReportResponse{ReportId: r.GetReportId(), OrganizationName: r.GetOrganizationName(), Duplicate: len(res.Duplicate) == 1 && res.Duplicate[0]}
	for _, p := range r.GetPolicies() {
		out.PolicyDomains = append(out.PolicyDomains, p.GetPolicyDomain())
	}
	return out, nil
}
