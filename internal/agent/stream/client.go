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
}

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
	for ctx.Err() == nil {
		addr := c.cfg.Controllers[idx%len(c.cfg.Controllers)]
		if redirect != "" {
			addr, redirect = redirect, ""
		}
		leader, progressed, err := c.session(ctx, addr)
		switch {
		case ctx.Err() != nil:
			return nil
		case leader != "":
			c.cfg.Logger.Info("controller is not the leader, following redirect", "controller", addr, "leader", leader)
			redirect = leader
			attempt = 0
			continue
		case err != nil:
			c.cfg.Logger.Warn("controller stream ended", "controller", addr, "err", err)
		}
		if progressed {
			attempt = 0
		}
		idx++
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

// backoff is exponential with full jitter.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 16)
	if d > hi || d <= 0 {
		d = hi
	}
	return lo/2 + rand.N(d)
}

// session runs one stream. It returns a leader address to follow when the
// node said NotLeader, and whether the stream got as far as Welcome.
func (c *Client) session(ctx context.Context, addr string) (leader string, progressed bool, err error) {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}, c.cfg.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return "", false, fmt.Errorf("stream: dial %s: %w", addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := mxv1.NewAgentServiceClient(conn).Connect(sctx)
	if err != nil {
		return "", false, fmt.Errorf("stream: connect %s: %w", addr, err)
	}
	if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Hello{Hello: c.cfg.Hello}}); err != nil {
		return "", false, fmt.Errorf("stream: hello: %w", err)
	}
	first, err := st.Recv()
	if err != nil {
		return "", false, fmt.Errorf("stream: waiting for welcome: %w", err)
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

	recvErr := make(chan error, 1)
	redirect := make(chan string, 1)
	acked := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			switch {
			case m.GetAck() != nil:
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
	defer wg.Wait()
	defer cancel()

	sent := c.Acked()
	for {
		err := c.each(sent, func(b *mxv1.ResultBatch) error {
			if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: b}}); err != nil {
				return fmt.Errorf("stream: send batch %d: %w", b.GetSeq(), err)
			}
			sent = b.GetSeq()
			return nil
		})
		if err != nil {
			return "", true, err
		}
		select {
		case <-ctx.Done():
			_ = st.CloseSend()
			return "", true, nil
		case <-c.notify:
		case <-acked:
		case l := <-redirect:
			if l == addr {
				l = ""
			}
			return l, true, nil
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				err = errors.New("controller closed the stream")
			}
			return "", true, err
		}
	}
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
