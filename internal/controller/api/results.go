package api

import (
	"context"
	"encoding/base64"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

const (
	defaultResultsPage = 500
	maxResultsPage     = 5000
)

// ListResults lists every agent's latest result per check and target with
// its recent changes (GET /v1/results), a page at a time.
func (s *Service) ListResults(ctx context.Context, req *mxv1.ListResultsRequest) (*mxv1.ListResultsResponse, error) {
	if err := shortFields(map[string]string{"site": req.GetSite(), "agent_id": req.GetAgentId(), "check": req.GetCheck()}); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultResultsPage, maxResultsPage)
	if err != nil {
		return nil, err
	}
	after, err := decodeResultToken(req.GetPageToken())
	if err != nil {
		return nil, err
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
		return fw.cl.ListResults(fw.ctx, req)
	}
	recs, next := s.node.State().Results(store.ResultFilter{Site: site, AgentID: req.GetAgentId(), Check: req.GetCheck(), Failing: req.GetFailing()}, after, size)
	if (after != store.ResultKey{}) && len(recs) == 0 {
		// A token is only issued with more after it: nothing after it now
		// means the listing changed under it (or it was forged), as for
		// incidents and deliveries.
		return nil, errPastEnd()
	}
	resp := &mxv1.ListResultsResponse{Results: recs}
	if next != nil {
		resp.NextPageToken = encodeResultToken(*next)
	}
	return resp, nil
}

// Page tokens are the last key of the page: stable while results change.
func encodeResultToken(k store.ResultKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.Agent + "\x00" + k.Check + "\x00" + k.Target))
}

func decodeResultToken(tok string) (store.ResultKey, error) {
	if tok == "" {
		return store.ResultKey{}, nil
	}
	if len(tok) > 4096 {
		return store.ResultKey{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || parts[0] == "" {
		return store.ResultKey{}, errBadToken
	}
	return store.ResultKey{Agent: parts[0], Check: parts[1], Target: parts[2]}, nil
}
