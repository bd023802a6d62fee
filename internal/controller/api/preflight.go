package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/renewal"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// PreflightCertificate predicts what importing the uploaded certificate
// does to every agent's connectors (internal/controller/renewal). It
// changes nothing. The upload is a public certificate: a private key is
// refused before anything else reads it (renewal.PublicOnly).
func (s *Service) PreflightCertificate(ctx context.Context, req *mxv1.PreflightCertificateRequest) (*mxv1.PreflightCertificateResponse, error) {
	site, err := siteFilter(ctx, req.GetSite())
	if err != nil {
		return nil, err
	}
	newC, ks, err := renewal.ParseUpload(ctx, req)
	if err != nil {
		if errors.Is(err, renewal.ErrBadRequest) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	fw, err := s.readable(ctx, false)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.PreflightCertificate(fw.ctx, req)
	}
	staleAfter := s.staleAfter
	if staleAfter <= 0 {
		staleAfter = defaultStaleAfter
	}
	rq := renewal.Request{Site: site, New: newC, NewFile: renewal.ImportFile(req), KeySource: ks, Now: time.Now(), StaleAfter: staleAfter}
	// A site-scoped token sees its site only: the hybrid rule then says
	// nothing about other sites' Edge servers.
	renewal.FromState(s.node.State(), auth.SiteScope(ctx), &rq)
	resp, err := renewal.Run(rq)
	if err != nil {
		if errors.Is(err, preflight.ErrNoCertificate) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := answerFits(resp, maxPreflightAnswer); err != nil {
		return nil, err
	}
	return resp, nil
}

// maxPreflightAnswer keeps the answer under the 4 MiB a gRPC client
// receives by default (the REST gateway, the dashboard and forwarding
// followers are such clients): about 500 Exchange servers with plans.
const maxPreflightAnswer = 4<<20 - 64<<10

// answerFits refuses an answer too large to deliver with a sentence
// saying how to split it, instead of a transport error.
func answerFits(resp *mxv1.PreflightCertificateResponse, limit int) error {
	if n := proto.Size(resp); n > limit {
		return status.Errorf(codes.FailedPrecondition, "the prediction for %d agents is %d KiB, over the %d KiB one answer may carry: run it per site (site / --site)", len(resp.GetAgents()), n>>10, limit>>10)
	}
	return nil
}
