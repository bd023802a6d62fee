package store

import (
	"context"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func (s *Store) applyNotify(ctx context.Context, cmd *mxv1.Command) error {
	resp, err := s.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	res, _ := resp.(NotifyResult)
	return res.Err
}

// NotifyEnqueue commits new deliveries and advances the incidents' cursors
// (leader only); ErrNotifyStale when a cursor moved meanwhile.
func (s *Store) NotifyEnqueue(ctx context.Context, c *mxv1.NotifyEnqueue) error {
	return s.applyNotify(ctx, &mxv1.Command{Kind: &mxv1.Command_NotifyEnqueue{NotifyEnqueue: c}})
}

// NotifyOutcome records a delivery's outcome (leader only).
func (s *Store) NotifyOutcome(ctx context.Context, o *mxv1.NotifyOutcome) error {
	return s.applyNotify(ctx, &mxv1.Command{Kind: &mxv1.Command_NotifyOutcome{NotifyOutcome: o}})
}

// NotifyTargetState disables or re-enables a target (leader only).
func (s *Store) NotifyTargetState(ctx context.Context, t *mxv1.NotifyTargetState) error {
	return s.applyNotify(ctx, &mxv1.Command{Kind: &mxv1.Command_NotifyTargetState{NotifyTargetState: t}})
}

// NotifyRedeliver puts failed deliveries back to pending (leader only).
func (s *Store) NotifyRedeliver(ctx context.Context, r *mxv1.NotifyRedeliver) error {
	return s.applyNotify(ctx, &mxv1.Command{Kind: &mxv1.Command_NotifyRedeliver{NotifyRedeliver: r}})
}
