package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Retries are replicated: a failed attempt that will be retried commits
// its outcome as PENDING with the attempt count, the error and when the
// next attempt is due (NotifyOutcome), so /v1/deliveries shows them and a
// new leader keeps the schedule instead of starting over. A delivery is
// given up (FAILED) only on a permanent answer, after Config.RetryFor since
// it was enqueued, or after Config.MaxAttempts when that is set. When an
// endpoint answers again, the target's other deliveries waiting for their
// backoff are sent at once instead of at their scheduled time.

// targetWorker is one target's delivery state on this leader.
type targetWorker struct {
	s   *Sender
	t   Target
	log *slog.Logger
	rs  resender
	// recovered is when the target last answered 2xx after a failure:
	// deliveries that failed before it are due at once.
	recovered, lastResend time.Time
	failing               bool
}

// runTarget sends one target's pending deliveries until ctx ends.
func (s *Sender) runTarget(ctx context.Context, t Target) {
	w := s.worker(t)
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if stop := w.pass(ctx); stop {
			return
		}
	}
}

func (s *Sender) worker(t Target) *targetWorker {
	rs, _ := t.(resender)
	return &targetWorker{s: s, t: t, log: s.cfg.Logger.With("target", t.Name()), rs: rs}
}

// pass attempts every due delivery once (the oldest pending one of each
// incident, in order), then re-sends active alerts when due. It returns
// true when the worker must stop (leadership lost).
func (w *targetWorker) pass(ctx context.Context) bool {
	s := w.s
	st := s.src.State()
	if ts := st.NotifyTarget(w.t.Name()); ts != nil && ts.GetDisabled() {
		return false
	}
	busy := map[string]bool{}
	for _, d := range st.Deliveries(w.t.Name(), mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING) {
		inc := d.GetEvent().GetIncidentId()
		if busy[inc] {
			continue // one at a time per incident, in order
		}
		busy[inc] = true
		if !w.due(d) {
			continue
		}
		if stop := w.attempt(ctx, d); stop {
			return true
		}
	}
	if w.rs != nil && s.cfg.Now().Sub(w.lastResend) >= w.rs.ResendInterval() {
		w.lastResend = s.cfg.Now()
		w.resend(ctx)
	}
	return false
}

// due reports whether a pending delivery's next attempt is due.
func (w *targetWorker) due(d *mxv1.Delivery) bool {
	next := d.GetNextAttemptAt()
	if next == nil {
		return true
	}
	if !w.recovered.IsZero() && d.GetUpdatedAt().AsTime().Before(w.recovered) {
		return true // failed before the endpoint recovered
	}
	return !w.s.cfg.Now().Before(next.AsTime())
}

// attempt sends one delivery once and commits its outcome. It returns true
// when the worker must stop (leadership lost).
func (w *targetWorker) attempt(ctx context.Context, d *mxv1.Delivery) bool {
	s, t, log := w.s, w.t, w.log
	now := s.cfg.Now()
	status, after := 0, time.Duration(0)
	var err error
	if x, ok := t.(exchanger); ok {
		status, after, err = x.Exchange(ctx, s.client, d.GetEvent(), now)
	} else {
		var req *http.Request
		req, err = t.Request(ctx, d.GetEvent(), now)
		if err == nil {
			status, after, err = s.do(req)
		} else {
			err = fmt.Errorf("build request: %w", err)
			status = -1
		}
	}
	if ctx.Err() != nil {
		// Outcome unknown: it stays PENDING and the next leader resends it.
		return true
	}
	attempts := int(d.GetAttempts()) + 1
	oc := classify(status, err)
	if status == -1 {
		oc = outcomePermanent
	}
	out := &mxv1.NotifyOutcome{DeliveryId: d.GetId(), Attempts: uint32(attempts), HttpStatus: int32(max(status, 0))}
	if err != nil {
		out.LastError = errText(err)
	} else if oc != outcomeOK {
		out.LastError = fmt.Sprintf("HTTP %d", status)
	}
	switch oc {
	case outcomeOK:
		out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
		if w.failing || attempts > 1 {
			w.recovered, w.failing = s.cfg.Now(), false
		}
	case outcomeRetry:
		w.failing = true
		// Retry-After counts from the answer, not from when the attempt began.
		next := s.cfg.Now().Add(max(after, backoff(attempts, s.cfg.BackoffBase, s.cfg.BackoffMax)))
		window := d.GetEnqueuedAt().AsTime().Add(s.cfg.RetryFor)
		if (s.cfg.MaxAttempts > 0 && attempts >= s.cfg.MaxAttempts) || next.After(window) {
			out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED
			out.LastError += fmt.Sprintf(" (gave up after %d attempts over %s)", attempts, s.cfg.Now().Sub(d.GetEnqueuedAt().AsTime()).Round(time.Second))
			break
		}
		out.Status, out.NextAttemptAt = mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING, timestamppb.New(next)
		log.Info("notification delivery will be retried", "delivery", d.GetId(), "attempt", attempts, "error", out.LastError, "next", next)
	case outcomeGone:
		out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED
		if g, ok := t.(goneDisabler); ok && g.DisableOnGone() {
			log.Warn("notification target answered 410 Gone: disabled", "delivery", d.GetId())
			if err := s.src.NotifyTargetState(ctx, &mxv1.NotifyTargetState{Target: t.Name(), Disabled: true, Reason: "410 Gone"}); err != nil {
				return true
			}
		}
	default:
		out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED
	}
	if out.Status == mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED {
		log.Warn("notification delivery failed", "delivery", d.GetId(), "attempts", attempts, "error", out.LastError)
	}
	if err := s.src.NotifyOutcome(ctx, out); err != nil {
		if !quiet(err) {
			log.Warn("recording notification outcome failed", "delivery", d.GetId(), "err", err)
		}
		return true
	}
	return false
}

// do performs a request; the body is drained (bounded) for keep-alive.
func (s *Sender) do(req *http.Request) (int, time.Duration, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), s.cfg.Now()), nil
}

// resend re-sends the active incidents (Alertmanager keeps alerts firing
// only while they are re-posted before their endsAt).
func (w *targetWorker) resend(ctx context.Context) {
	st := w.s.src.State()
	var active []*mxv1.Incident
	for _, inc := range st.NotifiableIncidents() {
		// Only incidents receivers were told about, as they were told.
		if cur := st.NotifyCursor(inc.GetId()); cur != nil && incident.Active(cur.GetState()) && incident.Unresolved(inc) {
			active = append(active, inc)
		}
	}
	if len(active) == 0 {
		return
	}
	req, err := w.rs.ResendRequest(ctx, active, w.s.cfg.Now())
	if err != nil {
		return
	}
	status, _, err := w.s.do(req)
	if classify(status, err) != outcomeOK && ctx.Err() == nil {
		msg := ""
		if err != nil {
			msg = errText(err)
		}
		w.log.Warn("re-sending active alerts failed", "status", status, "error", msg)
	}
}
