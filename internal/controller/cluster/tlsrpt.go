package cluster

import (
	"context"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ForwardTLSReports commits reports a follower's TLS-RPT listener received
// (node to node: the caller holds the cluster certificate).
func (s *Service) ForwardTLSReports(ctx context.Context, req *mxv1.ForwardTLSReportsRequest) (*mxv1.ForwardTLSReportsResponse, error) {
	res, err := s.c.store.ProposeTLSReports(ctx, req.GetReports())
	if err != nil {
		return nil, toStatus(err)
	}
	return &mxv1.ForwardTLSReportsResponse{Duplicate: res.Duplicate}, nil
}

// SubmitTLSReport commits a report here when this node leads, else hands
// it to the leader.
func (c *Cluster) SubmitTLSReport(ctx context.Context, r *mxv1.TLSReport) (bool, error) {
	if c.store.IsLeader() {
		res, err := c.store.ProposeTLSReports(ctx, []*mxv1.TLSReport{r})
		if err != nil {
			return false, err
		}
		return len(res.Duplicate) == 1 && res.Duplicate[0], nil
	}
	conn, err := c.LeaderConn()
	if err != nil {
		return false, err
	}
	resp, err := mxv1.NewClusterServiceClient(conn).ForwardTLSReports(ctx, &mxv1.ForwardTLSReportsRequest{Reports: []*mxv1.TLSReport{r}})
	if err != nil {
		return false, err
	}
	return len(resp.GetDuplicate()) == 1 && resp.GetDuplicate()[0], nil
}
