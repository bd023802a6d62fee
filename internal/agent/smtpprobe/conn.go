package smtpprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// deadlineConn arms, before every Read and Write, a deadline of
// min(overall, now+idle): a server that keeps trickling bytes resets only
// the idle part, never the overall deadline. The TLS client sits on top of
// it, so handshake reads are bounded the same way.
type deadlineConn struct {
	net.Conn
	ctx     context.Context
	overall time.Time
	idle    time.Duration
	// received counts the bytes read from the server (the session's
	// goroutine is the only reader).
	received int64
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.arm(c.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.received += int64(n)
	return n, err
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.arm(c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// arm sets the next deadline and only then checks the context: a
// cancellation after the check is seen by the AfterFunc that forces the
// deadline into the past after ours.
func (c *deadlineConn) arm(set func(time.Time) error) error {
	d := time.Now().Add(c.idle)
	if !c.overall.IsZero() && c.overall.Before(d) {
		d = c.overall
	}
	if err := set(d); err != nil {
		return err
	}
	return c.ctx.Err()
}

// classifyIO wraps a network or reply error with the sentinel describing
// it: reply-limit and protocol errors keep theirs, deadlines become
// ErrTimeout, a vanished peer ErrClosed. Cancellation is returned as the
// context's error.
func classifyIO(ctx context.Context, what string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrLineTooLong), errors.Is(err, ErrTooManyLines), errors.Is(err, ErrProtocol):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s: probe canceled: %w", what, ctx.Err())
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: overall deadline passed: %w", ErrTimeout, what, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s: %w", ErrTimeout, what, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), peerGone(err):
		return fmt.Errorf("%w: %s: %w", ErrClosed, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func peerGone(err error) bool {
	for _, e := range peerGoneErrnos() {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// remoteAlert returns the text of a TLS alert received from the peer.
func remoteAlert(err error) (string, bool) {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		return oe.Err.Error(), true
	}
	return "", false
}
