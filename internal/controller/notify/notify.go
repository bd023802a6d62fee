// Package notify sends incident notifications from the raft leader to
// Standard Webhooks endpoints, PagerDuty Events v2, ServiceNow Event
// Management (or its Table API) and Alertmanager.
//
// The outbox is replicated: the leader's Sender compares every incident with
// what was last enqueued for it (store NotifyCursor) and commits the new
// events as deliveries, one per target (NotifyEnqueue). Which event, if any,
// follows the incident state machine (incident.EventType), and every target
// maps it so that its remote state ends equal to the incident's: triggered /
// firing / open while OPEN, acknowledged where the target has the notion,
// resolved / cleared when RESOLVED, and nothing for a resolved incident that
// stays resolved (the property test drives random histories through every
// target to hold this). Each target's worker sends its PENDING deliveries in
// enqueue order, one at a time per incident, retrying with exponential
// backoff and jitter (Retry-After honoured) for Config.RetryFor, and commits
// every attempt's outcome (NotifyOutcome), so the schedule survives leader
// changes (deliver.go). A delivery whose outcome was never committed (the
// leader died mid-flight) stays PENDING and the next leader sends it again
// with the same event id: delivery is at-least-once, and receivers dedupe by
// webhook-id / dedup_key / message_key.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// Config configures the sender and its targets.
type Config struct {
	// AllowPrivate permits loopback, private and link-local destinations
	// (SSRF guard off). Labs and tests only.
	AllowPrivate bool
	// Interval between outbox scans and delivery passes (default 250ms).
	Interval time.Duration
	// Timeout of one HTTP attempt (default 15s).
	Timeout time.Duration
	// RetryFor is how long after it was enqueued a delivery is retried on
	// 429/5xx/network errors before it is FAILED (default 24h).
	RetryFor time.Duration
	// MaxAttempts, when positive, gives up sooner: after that many attempts.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the exponential backoff (defaults 1s, 10m).
	BackoffBase, BackoffMax time.Duration
	// ExternalURL is this controller's HTTP URL (dashboard and API) for
	// links in payloads: the incident's dashboard page, and the API.
	ExternalURL string
	// RunbookURL, when set, links each incident to its runbook: "{code}" is
	// replaced by the cause's finding code, "{code_lower}" by it in lower case
	// (e.g. https://wiki.contoso.com/mail/{code}).
	RunbookURL string

	Webhooks     []WebhookConfig
	PagerDuty    *PagerDutyConfig
	ServiceNow   *ServiceNowConfig
	Alertmanager *AlertmanagerConfig

	Logger *slog.Logger
	Now    func() time.Time
	// Transport overrides the guarded transport (tests).
	Transport http.RoundTripper
}

// Enabled reports whether any target is configured.
func (c Config) Enabled() bool {
	return len(c.Webhooks) > 0 || c.PagerDuty != nil || c.ServiceNow != nil || c.Alertmanager != nil
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 250 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 24 * time.Hour
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Targets builds the configured targets; an invalid one is an error.
func (c Config) Targets() ([]Target, error) {
	var out []Target
	links := linker{external: c.ExternalURL, runbook: c.RunbookURL}
	for _, w := range c.Webhooks {
		if w.ExternalURL == "" {
			w.ExternalURL = c.ExternalURL
		}
		t, err := newWebhook(w, links)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if c.PagerDuty != nil {
		t, err := newPagerDuty(*c.PagerDuty, links)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if c.ServiceNow != nil {
		var t Target
		var err error
		switch strings.ToLower(c.ServiceNow.Mode) {
		case "", ServiceNowModeEvent:
			t, err = newServiceNow(*c.ServiceNow, links)
		case ServiceNowModeTable:
			t, err = newServiceNowTable(*c.ServiceNow, links)
		default:
			err = fmt.Errorf("notify: servicenow: mode %q is not event or table", c.ServiceNow.Mode)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if c.Alertmanager != nil {
		t, err := newAlertmanager(*c.Alertmanager, links)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	seen := map[string]bool{}
	for _, t := range out {
		if seen[t.Name()] {
			return nil, errors.New("notify: duplicate target name " + t.Name())
		}
		seen[t.Name()] = true
	}
	return out, nil
}

// Target turns an event into an HTTP request.
type Target interface {
	Name() string
	// Request builds the request for one attempt at now.
	Request(ctx context.Context, ev *mxv1.NotificationEvent, now time.Time) (*http.Request, error)
}

// goneDisabler is a target that is disabled by 410 Gone (webhooks).
type goneDisabler interface{ DisableOnGone() bool }

// resender re-sends the state of active incidents periodically (Alertmanager).
type resender interface {
	ResendInterval() time.Duration
	ResendRequest(ctx context.Context, active []*mxv1.Incident, now time.Time) (*http.Request, error)
}

// Source is the replicated store the sender reads and writes.
type Source interface {
	State() *store.State
	NotifyEnqueue(ctx context.Context, c *mxv1.NotifyEnqueue) error
	NotifyOutcome(ctx context.Context, o *mxv1.NotifyOutcome) error
	NotifyTargetState(ctx context.Context, t *mxv1.NotifyTargetState) error
}

// Sender is the leader-only notification task.
type Sender struct {
	src     Source
	cfg     Config
	targets []Target
	client  *http.Client
}

// NewSender validates the configuration and builds the targets.
func NewSender(src Source, cfg Config) (*Sender, error) {
	cfg = cfg.withDefaults()
	targets, err := cfg.Targets()
	if err != nil {
		return nil, err
	}
	rt := cfg.Transport
	if rt == nil {
		rt = guardedTransport(cfg.AllowPrivate)
	}
	client := &http.Client{
		Transport: rt,
		Timeout:   cfg.Timeout,
		// Never follow redirects: a redirect to an internal address would
		// bypass the destination check, and receivers answer 2xx anyway.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{src: src, cfg: cfg, targets: targets, client: client}, nil
}

// Run is the leader-only task: it returns once ctx ends (leadership lost),
// after every worker it started has stopped.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Add(1)
		go func() { defer wg.Done(); s.runTarget(ctx, t) }()
	}
	defer wg.Wait()
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		if err := s.Enqueue(ctx); err != nil && !quiet(err) {
			s.cfg.Logger.Warn("notification enqueue failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// quiet reports errors that only mean leadership ended or a race to retry.
func quiet(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, store.ErrNotLeader) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrNotifyStale)
}

// enqueueBatch bounds the incidents per NotifyEnqueue command.
const enqueueBatch = 100

// Enqueue commits deliveries for every incident change not yet enqueued.
func (s *Sender) Enqueue(ctx context.Context) error {
	st := s.src.State()
	var enabled []string
	for _, t := range s.targets {
		if ts := st.NotifyTarget(t.Name()); ts == nil || !ts.GetDisabled() {
			enabled = append(enabled, t.Name())
		}
	}
	cmd := &mxv1.NotifyEnqueue{}
	for _, inc := range st.NotifiableIncidents() {
		ev, cur := nextEvent(inc, st.NotifyCursor(inc.GetId()))
		if cur == nil {
			continue
		}
		cmd.Cursors = append(cmd.Cursors, cur)
		if ev != nil {
			for _, name := range enabled {
				cmd.Deliveries = append(cmd.Deliveries, &mxv1.Delivery{Id: name + "/" + ev.GetId(), Target: name, Event: ev})
			}
		}
		if len(cmd.Cursors) == enqueueBatch {
			if err := s.src.NotifyEnqueue(ctx, cmd); err != nil {
				return err
			}
			cmd = &mxv1.NotifyEnqueue{}
		}
	}
	if len(cmd.Cursors) == 0 {
		return nil
	}
	return s.src.NotifyEnqueue(ctx, cmd)
}
