package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Config configures the client.
type Config struct {
	// Controllers are gRPC addresses to try in turn.
	Controllers []string
	Hello       *mxv1.Hello
	Outbox      Outbox
	// DialOptions add to (and may override) the defaults, e.g. TLS credentials.
	DialOptions []grpc.DialOption
	// MinBackoff/MaxBackoff bound reconnect delays (defaults 200ms / 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// OnWelcome is called with every Welcome (plan changes, seq floor).
	OnWelcome func(*mxv1.Welcome)
	// AckTimeout is how long a controller may take to answer Hello with
	// Welcome, and to acknowledge something while batches are outstanding
	// (counted from the oldest unacknowledged send or the latest ack,
	// whichever is later), before the client leaves it for the next
	// address (default DefaultAckTimeout).
	AckTimeout time.Duration
	// InFlight is how many batches the client sends before it waits for
	// the oldest one's ack (default DefaultInFlight), so one round trip
	// and commit does not cap a busy agent at one batch per round trip.
	InFlight int
}

// DefaultAckTimeout is Config.AckTimeout's default.
const DefaultAckTimeout = 10 * time.Second

// DefaultInFlight is Config.InFlight's default.
const DefaultInFlight = 4

// Keepalive on the connection: a ping after keepaliveTime without reads,
// the connection dropped when its answer takes longer than
// keepaliveTimeout. 10 s is the shortest interval grpc-go allows; the
// controller accepts pings every 5 s.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// receiveWindow is the stream connection's HTTP/2 receive window, for the
// stream and the connection alike: grpc-go's default size, fixed.
const receiveWindow = 64 << 10

// ConnOptions are the dial options of an agent's stream connection, other
// than its credentials (mxbench's simulated agents dial with them too):
//
//   - Keepalive (keepaliveTime, keepaliveTimeout).
//   - Fixed receive windows (receiveWindow). The agent receives only small
//     messages (Welcome, acks, NotLeader), so a window never needs to grow,
//     and a fixed one turns off grpc-go's bandwidth estimation, which
//     otherwise pings the controller once a round trip while acks arrive:
//     under full ingest (mxbench) that was about one more TLS write and
//     read per batch on the controller, and on the agent, besides the ack.
//   - No service config from DNS: grpc-go's resolver would also ask for a
//     _grpc_config TXT record, which on a network without a route to an
//     upstream DNS server (Docker internal networks, DMZ segments) takes
//     longer than the ack timeout to fail, so no stream ever opened.
//     Controllers publish no service config.
func ConnOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithInitialWindowSize(receiveWindow),
		grpc.WithInitialConnWindowSize(receiveWindow),
		grpc.WithDisableServiceConfig(),
	}
}

// ErrAckTimeout: the controller did not answer Hello, or acknowledged
// nothing, within Config.AckTimeout (a paused or overloaded node).
var ErrAckTimeout = errors.New("stream: controller stopped acknowledging")

// Client streams outbox batches to the controller leader.
type Client struct {
	cfg    Config
	notify chan struct{}
	mu     sync.Mutex
	acked  uint64
}

// NewClient returns a client; call Run.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Controllers) == 0 {
		return nil, errors.New("stream: no controller address")
	}
	if cfg.Hello.GetAgentId() == "" {
		return nil, errors.New("stream: hello needs an agent id")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	return &Client{cfg: cfg, notify: make(chan struct{}, 1)}, nil
}

// Notify tells the client new batches are in the outbox.
func (c *Client) Notify() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Acked is the highest sequence the controller acknowledged.
func (c *Client) Acked() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

func (c *Client) setAcked(seq uint64) {
	c.mu.Lock()
	if seq > c.acked {
		c.acked = seq
	}
	c.mu.Unlock()
	c.cfg.Outbox.Trim(seq)
}

// Run keeps a stream open until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	attempt := 0
	idx := 0
	redirect := ""
	var sus suspects
	for ctx.Err() == nil {
		var addr string
		if redirect != "" {
			addr, redirect = redirect, ""
		} else {
			addr, idx = c.next(idx, &sus)
		}
		leader, progressed, err := c.session(ctx, addr)
		if progressed && !errors.Is(err, ErrAckTimeout) {
			delete(sus, addr)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case leader != "" && sus.holds(leader, time.Now()) && c.alternative(leader, &sus):
			// A follower that has not yet noticed that the leader stopped
			// acknowledging us still names it: try the other nodes first.
			c.cfg.Logger.Info("controller redirects to a node that stopped acknowledging; trying the others first", "controller", addr, "leader", leader)
		case leader != "":
			c.cfg.Logger.Info("controller is not the leader, following redirect", "controller", addr, "leader", leader)
			redirect = leader
			attempt = 0
			continue
		case errors.Is(err, ErrAckTimeout):
			sus.add(addr, time.Now().Add(suspectFor*c.cfg.AckTimeout))
			c.cfg.Logger.Warn("controller stopped acknowledging, moving to another", "controller", addr, "err", err)
		case errors.Is(err, ErrHTTPPort):
			// A configuration mistake, not an outage: say it plainly and
			// retry slowly (the address may still be fixed by DNS or a
			// proxy), not at the reconnect pace.
			c.cfg.Logger.Error("controller address is the HTTP port: this is the controller's HTTP port; agents use the gRPC port (default 7400)", "controller", addr, "err", err)
			attempt = max(attempt, 16)
		case err != nil:
			c.cfg.Logger.Warn("controller stream ended", "controller", addr, "err", err)
		}
		if progressed {
			attempt = 0
		}
		delay := backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		attempt++
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	return nil
}

// suspectFor is how many ack timeouts a node that stopped acknowledging is
// passed over (redirects to it included) while another node is configured.
const suspectFor = 3

// next is the configured address to try at idx, passing over suspects while
// some address is not one; it returns the index to continue from.
func (c *Client) next(idx int, sus *suspects) (string, int) {
	n := len(c.cfg.Controllers)
	now := time.Now()
	for i := range n {
		a := c.cfg.Controllers[(idx+i)%n]
		if !sus.holds(a, now) {
			return a, idx + i + 1
		}
	}
	return c.cfg.Controllers[idx%n], idx + 1
}

// alternative reports whether some configured address other than addr is
// not a suspect.
func (c *Client) alternative(addr string, sus *suspects) bool {
	now := time.Now()
	for _, a := range c.cfg.Controllers {
		if a != addr && !sus.holds(a, now) {
			return true
		}
	}
	return false
}

// suspects are controller addresses that stopped acknowledging, each until
// a time. Only Run's goroutine uses it.
type suspects map[string]time.Time

func (s *suspects) add(addr string, until time.Time) {
	if *s == nil {
		*s = suspects{}
	}
	(*s)[addr] = until
}

func (s *suspects) holds(addr string, now time.Time) bool {
	until, ok := (*s)[addr]
	if ok && !now.Before(until) {
		delete(*s, addr)
		return false
	}
	return ok
}

// backoff is exponential with full jitter.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 16)
	if d > hi || d <= 0 {
		d = hi
	}
	return lo/2 + rand.N(d)
}

// session runs one stream. It returns a leader address to follow when the
// node said NotLeader, and whether the stream got as far as Welcome. A node
// that does not answer Hello, or stops acknowledging, within the ack
// timeout ends the session with ErrAckTimeout: a paused process still
// accepts connections and holds them forever otherwise.
func (c *Client) session(ctx context.Context, addr string) (leader string, progressed bool, err error) {
	opts := append(append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, ConnOptions()...), c.cfg.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return "", false, fmt.Errorf("stream: dial %s: %w", addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// failed prefers the reason the session was cut over the error the
	// cut caused.
	failed := func(err error) error {
		if cause := context.Cause(sctx); errors.Is(cause, ErrAckTimeout) {
			return cause
		}
		return err
	}
	timeout := c.cfg.AckTimeout
	hello := time.AfterFunc(timeout, func() {
		// The connection's state says which step hung: CONNECTING is name
		// resolution or the TCP/TLS/HTTP2 handshake, READY a node that took
		// the stream but did not answer Hello.
		cancel(fmt.Errorf("%w: no Welcome from %s within %s (connection %s)", ErrAckTimeout, addr, timeout, conn.GetState()))
	})
	defer hello.Stop()
	st, err := mxv1.NewAgentServiceClient(conn).Connect(sctx)
	if err != nil {
		return "", false, failed(wrongPort(addr, fmt.Errorf("stream: connect %s: %w", addr, err)))
	}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: c.cfg.Hello}}); err != nil {
		if errors.Is(err, io.EOF) {
			// The server ended the stream before Hello went out; grpc-go
			// gives its reason (e.g. an HTTP server's answer) to Recv.
			if _, rerr := st.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
				err = rerr
			}
		}
		return "", false, failed(wrongPort(addr, fmt.Errorf("stream: hello: %w", err)))
	}
	first, err := st.Recv()
	if err != nil {
		return "", false, failed(wrongPort(addr, fmt.Errorf("stream: waiting for welcome: %w", err)))
	}
	if !hello.Stop() {
		// The deadline passed as the answer came: the stream is being cut.
		return "", false, fmt.Errorf("%w: no Welcome from %s within %s", ErrAckTimeout, addr, timeout)
	}
	if nl := first.GetNotLeader(); nl != nil {
		if nl.GetLeaderAddress() != "" && nl.GetLeaderAddress() != addr {
			return nl.GetLeaderAddress(), false, nil
		}
		return "", false, fmt.Errorf("stream: %s is not the leader and knows none", addr)
	}
	w := first.GetWelcome()
	if w == nil {
		return "", false, errors.New("stream: controller answered without Welcome")
	}
	c.setAcked(w.GetLastCommittedSeq())
	if c.cfg.OnWelcome != nil {
		c.cfg.OnWelcome(w)
	}
	c.cfg.Logger.Info("connected to controller", "controller", addr, "node", w.GetControllerId(), "last_committed_seq", w.GetLastCommittedSeq())

	clock := &ackClock{acked: c.Acked()}
	recvErr := make(chan error, 1)
	redirect := make(chan string, 1)
	acked := make(chan struct{}, 1)
	recvDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(recvDone)
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			switch {
			case m.GetAck() != nil:
				c.cfg.Logger.Debug("batch acknowledged", "seq", m.GetAck().GetSeq(), "controller", addr)
				clock.ack(m.GetAck().GetSeq(), time.Now())
				c.setAcked(m.GetAck().GetSeq())
				select {
				case acked <- struct{}{}:
				default:
				}
			case m.GetNotLeader() != nil:
				redirect <- m.GetNotLeader().GetLeaderAddress()
				return
			}
		}
	}()
	// The watchdog cuts the stream (a blocked Send included) once the
	// controller is overdue.
	go func() {
		defer wg.Done()
		t := time.NewTicker(min(max(timeout/10, 10*time.Millisecond), time.Second))
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case now := <-t.C:
				if from, to, waited, late := clock.overdue(now, timeout); late {
					cancel(fmt.Errorf("%w: %s acknowledged nothing for %s with batches %d-%d outstanding", ErrAckTimeout, addr, waited.Round(time.Millisecond), from, to))
					return
				}
			}
		}
	}()
	defer wg.Wait()
	defer cancel(nil)

	sent := c.Acked()
	for {
		err := c.each(sent, func(b *mxv1.ResultBatch) error {
			// At most InFlight batches unacknowledged: wait for the
			// oldest one's ack before sending another.
			for clock.outstanding() >= c.cfg.InFlight {
				select {
				case <-acked:
				case <-recvDone:
					return errSessionOver
				case <-sctx.Done():
					return errSessionOver
				}
			}
			// Outstanding from before Send: a Send that blocks (the peer
			// reads nothing) counts against the deadline.
			clock.send(b.GetSeq(), time.Now())
			if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err != nil {
				return fmt.Errorf("stream: send batch %d: %w", b.GetSeq(), err)
			}
			sent = b.GetSeq()
			return nil
		})
		if err != nil && !errors.Is(err, errSessionOver) {
			return "", true, failed(err)
		}
		more, wake := c.notify, acked
		if err != nil {
			// The session ends: wait only for why.
			more, wake = nil, nil
		}
		select {
		case <-ctx.Done():
			_ = st.CloseSend()
			return "", true, nil
		case <-sctx.Done():
			return "", true, failed(sctx.Err())
		case <-more:
		case <-wake:
		case l := <-redirect:
			if l == addr {
				l = ""
			}
			return l, true, nil
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				err = errors.New("controller closed the stream")
			}
			return "", true, failed(err)
		}
	}
}

// errSessionOver stops sending: the session ended (the stream failed, was
// redirected or cut); the caller finds out why.
var errSessionOver = errors.New("stream: session over")

// ackClock tracks what a session sent and what came back, for the ack
// deadline and the in-flight bound: the controller is overdue when batches
// are outstanding and neither the oldest of them nor the latest ack is
// younger than the timeout.
type ackClock struct {
	mu          sync.Mutex
	sent, acked uint64
	since       time.Time // start of the current wait
	// inflight are the sequences sent and not yet acknowledged, oldest
	// first (sequences may skip numbers: batches the spool lost).
	inflight []uint64
}

func (a *ackClock) send(seq uint64, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent <= a.acked {
		a.since = now
	}
	a.sent = max(a.sent, seq)
	if seq > a.acked {
		a.inflight = append(a.inflight, seq)
	}
}

func (a *ackClock) ack(seq uint64, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acked = max(a.acked, seq)
	a.since = now
	// An ack covers its sequence and everything below.
	i := 0
	for i < len(a.inflight) && a.inflight[i] <= a.acked {
		i++
	}
	a.inflight = append(a.inflight[:0], a.inflight[i:]...)
}

// outstanding is the number of batches sent and not yet acknowledged.
func (a *ackClock) outstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inflight)
}

// overdue reports the outstanding range and how long it waited, when that
// exceeds timeout.
func (a *ackClock) overdue(now time.Time, timeout time.Duration) (from, to uint64, waited time.Duration, late bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent <= a.acked {
		return 0, 0, 0, false
	}
	waited = now.Sub(a.since)
	return a.acked + 1, a.sent, waited, waited > timeout
}

// eachOutbox is implemented by outboxes that can stream a large backlog
// without loading it all (the durable spool).
type eachOutbox interface {
	Each(after uint64, fn func(*mxv1.ResultBatch) error) error
}

func (c *Client) each(after uint64, fn func(*mxv1.ResultBatch) error) error {
	if e, ok := c.cfg.Outbox.(eachOutbox); ok {
		return e.Each(after, fn)
	}
	for _, b := range c.cfg.Outbox.Pending(after) {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}
