package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// grpc-go reads a unary call's whole request message (up to maxRequest)
// before any interceptor runs, so authentication in the interceptors alone
// let a caller without credentials make the node hold maxStreams x
// maxRequest per connection. The guard decides before the message is read:
//
//   - At the stream's headers (a tap, on the connection's reader) it runs
//     auth.Precheck: a call whose certificate or API token is wrong or
//     missing is refused there and its message is never read; a proven
//     call goes on with the full limit (agent batches).
//   - An unproven call (Enroll carries its join token in the body, health
//     needs nothing, an API token this node has not applied yet) is one of
//     at most maxUnprovenWaiting; until its message is read it holds only
//     its HTTP/2 stream window (streamWindow: the window is fixed, not
//     grown by BDP estimation).
//   - Before its message is read (in the stats handler's InHeader, on the
//     call's own goroutine) an unproven call waits for an unknown token to
//     be applied (then the interceptor does not wait again) and otherwise
//     for one of unprovenReads slots, which it holds until the call ends,
//     at most unprovenCallTimeout. A call that gets no slot in that time,
//     or does not end in it, is cancelled.
//
// So an unauthenticated peer makes the node hold at most unprovenReads
// messages of maxRequest (grpc-go holds about three copies of one while it
// decodes it) plus maxUnprovenWaiting x streamWindow, however many
// connections and streams it opens. Every other peer on the port has
// proven its certificate or token before a byte of its message is read.
const (
	streamWindow        = 64 << 10
	connWindow          = 1 << 20
	maxUnprovenWaiting  = 128
	unprovenReads       = 1
	unprovenCallTimeout = 10 * time.Second
)

type grpcGuard struct {
	auth    *auth.Authenticator
	waiting atomic.Int64
	slots   chan struct{}
}

func newGRPCGuard(a *auth.Authenticator) *grpcGuard {
	return &grpcGuard{auth: a, slots: make(chan struct{}, unprovenReads)}
}

// serverOptions are the guard's gRPC server options.
func (g *grpcGuard) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.InTapHandle(g.tap),
		grpc.StatsHandler(g),
	}
}

type unprovenKey struct{}

// unprovenCall is an admitted call whose message is not read yet.
type unprovenCall struct {
	g        *grpcGuard
	method   string
	cancel   context.CancelFunc
	leave    sync.Once // leaves the waiting count
	slotOnce sync.Once
	slot     bool
	timer    *time.Timer
	mu       sync.Mutex
}

func (g *grpcGuard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	v, err := g.auth.Precheck(ctx, info.FullMethodName, info.Header)
	if err != nil {
		return ctx, err
	}
	if v == auth.Proven {
		return ctx, nil
	}
	if g.waiting.Add(1) > maxUnprovenWaiting {
		g.waiting.Add(-1)
		return ctx, status.Error(codes.ResourceExhausted, "too many calls without a verified credential in progress; retry later")
	}
	ctx, cancel := context.WithCancel(auth.WithCatchUpMark(ctx))
	c := &unprovenCall{g: g, method: info.FullMethodName, cancel: cancel}
	context.AfterFunc(ctx, c.done)
	return context.WithValue(ctx, unprovenKey{}, c), nil
}

// done: the call was proven or ended.
func (c *unprovenCall) done() {
	c.leave.Do(func() { c.g.waiting.Add(-1) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.slot {
		c.slot = false
		<-c.g.slots
	}
}

// admit runs before the call's message is read.
func (c *unprovenCall) admit(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	for deadline := time.Now().Add(auth.TokenCatchUp); ; {
		v, err := c.g.auth.Precheck(ctx, c.method, md)
		if err == nil && v == auth.Proven {
			c.done()
			return
		}
		if err != nil || v != auth.Pending || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	auth.CaughtUp(ctx) // the interceptor need not wait for the token again
	wait := time.NewTimer(unprovenCallTimeout)
	defer wait.Stop()
	select {
	case c.g.slots <- struct{}{}:
	case <-ctx.Done():
		return
	case <-wait.C:
		c.cancel()
		return
	}
	c.mu.Lock()
	c.slot = true
	c.timer = time.AfterFunc(unprovenCallTimeout, c.cancel)
	c.mu.Unlock()
	if ctx.Err() != nil {
		c.done()
	}
}

func (g *grpcGuard) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (g *grpcGuard) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, ok := ctx.Value(unprovenKey{}).(*unprovenCall)
	if !ok {
		return
	}
	switch s.(type) {
	case *stats.InHeader:
		c.admit(ctx)
	case *stats.End:
		c.done()
	}
}

func (g *grpcGuard) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (g *grpcGuard) HandleConn(context.Context, stats.ConnStats)                       {}
