package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// retryState is the leader's in-memory retry bookkeeping of one delivery
// (a new leader starts over: attempts are at-least-once anyway).
type retryState struct {
	attempts int
	next     time.Time
}

// runTarget sends one target's pending deliveries until ctx ends.
func (s *Sender) runTarget(ctx context.Context, t Target) {
	log := s.cfg.Logger.With("target", t.Name())
	retries := map[string]*retryState{}
	var lastResend time.Time
	rs, _ := t.(resender)
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := s.src.State()
		if ts := st.NotifyTarget(t.Name()); ts != nil && ts.GetDisabled() {
			continue
		}
		pending := st.Deliveries(t.Name(), mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING)
		live := make(map[string]*retryState, len(pending))
		busy := map[string]bool{}
		for _, d := range pending {
			inc := d.GetEvent().GetIncidentId()
			if busy[inc] {
				continue // one at a time per incident, in order
			}
			busy[inc] = true
			r := retries[d.GetId()]
			if r == nil {
				r = &retryState{}
			}
			live[d.GetId()] = r
			if s.cfg.Now().Before(r.next) {
				continue
			}
			if stop := s.attempt(ctx, t, d, r, log); stop {
				return
			}
		}
		retries = live
		if rs != nil && s.cfg.Now().Sub(lastResend) >= rs.ResendInterval() {
			lastResend = s.cfg.Now()
			s.resend(ctx, t, rs, log)
		}
	}
}

// attempt sends one delivery once and commits its outcome when final. It
// returns true when the worker must stop (leadership lost).
func (s *Sender) attempt(ctx context.Context, t Target, d *mxv1.Delivery, r *retryState, log *slog.Logger) bool {
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
	r.attempts++
	oc := classify(status, err)
	if status == -1 {
		oc = outcomePermanent
	}
	out := &mxv1.NotifyOutcome{DeliveryId: d.GetId(), Attempts: uint32(r.attempts), HttpStatus: int32(max(status, 0))}
	if err != nil {
		out.LastError = errText(err)
	} else if oc != outcomeOK {
		out.LastError = fmt.Sprintf("HTTP %d", status)
	}
	switch oc {
	case outcomeOK:
		out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
	case outcomeRetry:
		if r.attempts < s.cfg.MaxAttempts {
			// Retry-After counts from the answer, not from when the attempt began.
			r.next = s.cfg.Now().Add(max(after, backoff(r.attempts, s.cfg.BackoffBase, s.cfg.BackoffMax)))
			log.Info("notification delivery will be retried", "delivery", d.GetId(), "attempt", r.attempts, "error", out.LastError, "next", r.next)
			return false
		}
		out.Status = mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED
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
		log.Warn("notification delivery failed", "delivery", d.GetId(), "attempts", r.attempts, "error", out.LastError)
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

// resend re-sends the active incidents (Alertmanager keeps alerts firing).
func (s *Sender) resend(ctx context.Context, t Target, rs resender, log *slog.Logger) {
	var active []*mxv1.Incident
	for _, inc := range s.src.State().NotifiableIncidents() {
		if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN || inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			// Only incidents this target was told about.
			if cur := s.src.State().NotifyCursor(inc.GetId()); cur != nil {
				active = append(active, inc)
			}
		}
	}
	if len(active) == 0 {
		return
	}
	req, err := rs.ResendRequest(ctx, active, s.cfg.Now())
	if err != nil {
		return
	}
	status, _, err := s.do(req)
	if classify(status, err) != outcomeOK && ctx.Err() == nil {
		msg := ""
		if err != nil {
			msg = errText(err)
		}
		log.Warn("re-sending active alerts failed", "status", status, "error", msg)
	}
}
