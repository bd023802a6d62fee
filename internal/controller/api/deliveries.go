package api

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Notification deliveries and targets: list (read scope, like
// every List), redeliver a FAILED delivery and re-enable a target disabled
// by 410 Gone (write scope). Writes go through raft on the leader.

const (
	defaultDeliveryPage = 100
	maxDeliveryPage     = 1000
)

// notifyWriter is what the store offers for delivery commands.
type notifyWriter interface {
	NotifyRedeliver(ctx context.Context, r *mxv1.NotifyRedeliver) error
	NotifyTargetState(ctx context.Context, t *mxv1.NotifyTargetState) error
}

// ListDeliveries lists deliveries in enqueue order, optionally by status and target.
func (s *Service) ListDeliveries(ctx context.Context, req *mxv1.ListDeliveriesRequest) (*mxv1.ListDeliveriesResponse, error) {
	if _, ok := mxv1.DeliveryStatus_name[int32(req.GetStatus())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "status: unknown value %d", req.GetStatus())
	}
	if len(req.GetTarget()) > 128 {
		return nil, status.Error(codes.InvalidArgument, "target: longer than 128 characters")
	}
	size, err := pageSize(req.GetPageSize(), defaultDeliveryPage, maxDeliveryPage)
	if err != nil {
		return nil, err
	}
	if _, _, err := decodeDeliveryToken(req.GetPageToken()); err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListDeliveries(fw.ctx, req)
	}
	page, next, err := deliveryPage(s.visibleDeliveries(ctx, s.node.State().Deliveries(req.GetTarget(), req.GetStatus())), req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	return &mxv1.ListDeliveriesResponse{Deliveries: page, NextPageToken: next}, nil
}

// RedeliverDelivery puts a FAILED delivery back to PENDING.
func (s *Service) RedeliverDelivery(ctx context.Context, req *mxv1.RedeliverDeliveryRequest) (*mxv1.RedeliverDeliveryResponse, error) {
	id := req.GetId()
	if id == "" || len(id) > 256 || strings.ContainsAny(id, " \t\r\n") || !strings.Contains(id, "/") {
		return nil, status.Error(codes.InvalidArgument, "id: a delivery id (target/event id) is required")
	}
	who, err := notifyActor(ctx, req.GetActor())
	if err != nil {
		return nil, err
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.RedeliverDelivery(fw.ctx, req)
	}
	if d := s.node.State().Delivery(id); d != nil && !s.deliveryVisible(ctx, d) {
		return nil, status.Errorf(codes.NotFound, "no delivery %s", id)
	}
	w, ok := s.node.(notifyWriter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node cannot write deliveries")
	}
	if err := w.NotifyRedeliver(ctx, &mxv1.NotifyRedeliver{DeliveryIds: []string{id}, Actor: who, SiteScope: auth.SiteScope(ctx)}); err != nil {
		return nil, notifyErr(err)
	}
	return &mxv1.RedeliverDeliveryResponse{Delivery: s.node.State().Delivery(id)}, nil
}

// ListNotifyTargets lists the targets' replicated status (only targets
// whose status ever changed are listed).
func (s *Service) ListNotifyTargets(ctx context.Context, req *mxv1.ListNotifyTargetsRequest) (*mxv1.ListNotifyTargetsResponse, error) {
	// Targets serve every site (their errors and counters included).
	if err := fleetOnly(ctx, "a notification target"); err != nil {
		return nil, err
	}
	fw, err := s.readable(ctx, req.GetStale())
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.ListNotifyTargets(fw.ctx, req)
	}
	return &mxv1.ListNotifyTargetsResponse{Targets: s.node.State().NotifyTargets()}, nil
}

// EnableNotifyTarget re-enables a target disabled by 410 Gone.
func (s *Service) EnableNotifyTarget(ctx context.Context, req *mxv1.EnableNotifyTargetRequest) (*mxv1.EnableNotifyTargetResponse, error) {
	name := req.GetName()
	if name == "" || len(name) > 128 || strings.ContainsAny(name, " /\t\r\n") {
		return nil, status.Error(codes.InvalidArgument, "name: a target name is required")
	}
	if err := fleetOnly(ctx, "a notification target"); err != nil {
		return nil, err
	}
	who, err := notifyActor(ctx, req.GetActor())
	if err != nil {
		return nil, err
	}
	fw, err := s.leaderOrForward(ctx)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		defer fw.cancel()
		return fw.cl.EnableNotifyTarget(fw.ctx, req)
	}
	if s.node.State().NotifyTarget(name) == nil {
		return nil, status.Errorf(codes.NotFound, "target %s has no recorded status (it was never disabled)", name)
	}
	w, ok := s.node.(notifyWriter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node cannot write targets")
	}
	if err := w.NotifyTargetState(ctx, &mxv1.NotifyTargetState{Target: name, Disabled: false, Reason: "re-enabled by " + who}); err != nil {
		return nil, notifyErr(err)
	}
	return &mxv1.EnableNotifyTargetResponse{Target: s.node.State().NotifyTarget(name)}, nil
}

// notifyActor names who asks: the API token, or in insecure mode the
// supplied actor (default "anonymous").
func notifyActor(ctx context.Context, requested string) (string, error) {
	a := strings.TrimSpace(requested)
	if len(a) > maxActorLen || strings.ContainsAny(a, "\r\n") {
		return "", status.Errorf(codes.InvalidArgument, "actor: one line of at most %d characters", maxActorLen)
	}
	switch who := auth.Actor(ctx); who {
	case "insecure-mode", "anonymous", "":
		if a == "" {
			return "anonymous", nil
		}
		return a, nil
	default:
		if a != "" && a != who {
			return who + " (for " + a + ")", nil
		}
		return who, nil
	}
}

func notifyErr(err error) error {
	switch {
	case errors.Is(err, store.ErrDeliveryNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrDeliveryNotRedeliver):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return mapErr(err)
}

// visibleDeliveries keeps the deliveries of incidents the caller may see.
func (s *Service) visibleDeliveries(ctx context.Context, ds []*mxv1.Delivery) []*mxv1.Delivery {
	if auth.SiteScope(ctx) == "" {
		return ds
	}
	out := make([]*mxv1.Delivery, 0, len(ds))
	for _, d := range ds {
		if s.deliveryVisible(ctx, d) {
			out = append(out, d)
		}
	}
	return out
}

// deliveryVisible: the incident as the delivery carries it and as it is
// now (it may have spread to other sites since) must both be visible.
func (s *Service) deliveryVisible(ctx context.Context, d *mxv1.Delivery) bool {
	if !incidentVisible(ctx, d.GetEvent().GetIncident()) {
		return false
	}
	now := s.node.State().Incident(d.GetEvent().GetIncidentId())
	return now == nil || incidentVisible(ctx, now)
}
