package agentport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"
)

// Limits of one connection.
const (
	// defaultWindow is HTTP/2's initial flow-control window.
	defaultWindow = 65535
	// initialWindow is the stream receive window we advertise; with
	// initialConnWindow it lets an agent send a large batch without waiting.
	initialWindow     = 1 << 20
	initialConnWindow = 2 << 20
	maxWindow         = 1<<31 - 1
	// maxStreams is SETTINGS_MAX_CONCURRENT_STREAMS: an agent needs one
	// Connect stream and now and then a Renew.
	maxStreams = 4
	// maxPendingOut bounds what we queue for a peer whose windows are shut.
	maxPendingOut = 1 << 20
	// writeTimeout bounds one write to a peer that does not read.
	writeTimeout = 10 * time.Second
	// calmBurst and calmRate budget control frames (PING, SETTINGS,
	// RST_STREAM, PRIORITY, empty DATA, refused streams; see doc.go).
	calmBurst = 100
	calmRate  = 10 // per second
)

// conn is one HTTP/2 connection. Only its goroutine touches its fields,
// except nc and wmu (Shutdown writes GOAWAY and closes).
type conn struct {
	srv  *Server
	nc   net.Conn
	base context.Context
	wmu  sync.Mutex
	out  *[]byte // frames waiting for flush, nil when none
	hdr  [frameHeaderLen]byte

	dec           *hpack.Decoder
	req           *request // header block being decoded
	hblock        []byte   // header block fragments being collected
	hstream       uint32
	hflags        uint8
	hselfDep      bool // the HEADERS being collected depends on its own stream
	settingsAcked bool

	streams     []*stream
	lastStream  uint32
	peerGoAway  bool
	endedByPeer [4]uint32 // recent streams that ended after the peer's END_STREAM
	endedNext   uint8

	recvWindow, recvUnacked int32
	sendWindow              int64
	peerInitialWindow       int64
	peerMaxFrame            uint32

	tokens        float32
	tokensAt      int64
	sentSincePing bool // HEADERS or DATA written since the peer's last PING
}

func (c *conn) run() {
	err := c.serve()
	var ce *ConnError
	if errors.As(err, &ce) {
		c.srv.protocolErrors.Add(1)
		c.srv.log.Debug("agent connection ended: protocol error", "remote", c.nc.RemoteAddr().String(), "err", err)
		if c.out != nil { // frames queued before the error are dropped: GOAWAY alone
			*c.out = (*c.out)[:0]
		}
		c.wkeep(appendGoAway(c.wbuf(), c.lastStream, ce.Code, ce.Reason))
		if c.flush() == nil {
			c.drain()
		}
	}
	for len(c.streams) > 0 {
		c.dropStream(c.streams[len(c.streams)-1])
	}
	if c.out != nil {
		c.srv.bufs.put(c.out)
		c.out = nil
	}
	_ = c.nc.Close()
}

func (c *conn) serve() error {
	if err := c.start(); err != nil {
		return err
	}
	for {
		if c.peerGoAway && len(c.streams) == 0 {
			c.drain()
			return nil
		}
		h, buf, err := c.readFrame()
		if err != nil {
			return err
		}
		var p []byte
		if buf != nil {
			p = *buf
		}
		err = c.handle(h, p)
		if buf != nil {
			c.srv.bufs.put(buf)
		}
		if ferr := c.flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
	}
}

// start reads the client preface and first SETTINGS and sends ours.
func (c *conn) start() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.PrefaceTimeout))
	var preface [len(clientPreface)]byte
	if _, err := io.ReadFull(c.nc, preface[:]); err != nil {
		return err
	}
	if string(preface[:]) != clientPreface {
		return connErr(ErrCodeProtocol, "bad client preface")
	}
	b := c.wbuf()
	b = appendSettings(b,
		settingMaxConcurrentStreams, maxStreams,
		settingInitialWindowSize, initialWindow,
		settingHeaderTableSize, 0,
		settingMaxHeaderListSize, maxHeaderList)
	b = appendWindowUpdate(b, 0, initialConnWindow-defaultWindow)
	c.wkeep(b)
	if err := c.flush(); err != nil {
		return err
	}
	h, buf, err := c.readFrame()
	if err != nil {
		return err
	}
	if h.typ != frameSettings || h.flags&flagAck != 0 {
		if buf != nil {
			c.srv.bufs.put(buf)
		}
		return connErr(ErrCodeProtocol, "first frame is not SETTINGS")
	}
	var p []byte
	if buf != nil {
		p = *buf
	}
	err = c.onSettings(h, p)
	if buf != nil {
		c.srv.bufs.put(buf)
	}
	if err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.nc.SetReadDeadline(time.Time{})
}

// drain reads (a bounded amount, briefly) until the peer hangs up: closing
// with unread input resets the connection, and the peer could lose what we
// wrote last (a GOAWAY).
func (c *conn) drain() {
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, c.nc, 256<<10)
}

// readFrame reads one frame; the payload (nil when empty) is a pooled buffer
// the caller puts back.
func (c *conn) readFrame() (frameHeader, *[]byte, error) {
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h := parseFrameHeader(&c.hdr)
	if h.length > maxFrameSize {
		return h, nil, connErr(ErrCodeFrameSize, "frame of %d bytes exceeds %d", h.length, maxFrameSize)
	}
	if h.length == 0 {
		return h, nil, nil
	}
	buf := c.srv.bufs.get()
	*buf = (*buf)[:h.length]
	if _, err := io.ReadFull(c.nc, *buf); err != nil {
		c.srv.bufs.put(buf)
		return h, nil, err
	}
	return h, buf, nil
}

// wbuf returns the output buffer to append frames to; wkeep stores it back.
func (c *conn) wbuf() []byte {
	if c.out == nil {
		c.out = c.srv.bufs.get()
	}
	return *c.out
}

func (c *conn) wkeep(b []byte) { *c.out = b }

// flush writes the queued frames and releases the buffer.
func (c *conn) flush() error {
	if c.out == nil {
		return nil
	}
	out := c.out
	c.out = nil
	defer c.srv.bufs.put(out)
	if len(*out) == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(*out)
	return err
}

// goAwayAndClose is Shutdown's: from another goroutine, tell the peer to go
// elsewhere and close. A write in progress is not waited for.
func (c *conn) goAwayAndClose() {
	if c.wmu.TryLock() {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(appendGoAway(make([]byte, 0, 32), maxWindow, ErrCodeNo, "controller shutting down"))
		c.wmu.Unlock()
	}
	_ = c.nc.Close()
}

// charge spends one unit of the control-frame budget.
func (c *conn) charge() error {
	now := time.Now().UnixNano()
	if c.tokensAt != 0 {
		c.tokens = min(calmBurst, c.tokens+float32(now-c.tokensAt)/1e9*calmRate)
	}
	c.tokensAt = now
	c.tokens--
	if c.tokens < 0 {
		return connErr(ErrCodeEnhanceYourCalm, "too many control frames")
	}
	return nil
}

func (c *conn) handle(h frameHeader, p []byte) error {
	if c.hstream != 0 && (h.typ != frameContinuation || h.stream != c.hstream) {
		return connErr(ErrCodeProtocol, "frame type %d inside a header block", h.typ)
	}
	switch h.typ {
	case frameData:
		return c.onData(h, p)
	case frameHeaders:
		return c.onHeaders(h, p)
	case frameContinuation:
		return c.onContinuation(h, p)
	case framePriority:
		if h.stream == 0 {
			return connErr(ErrCodeProtocol, "PRIORITY on stream 0")
		}
		if len(p) != 5 {
			return connErr(ErrCodeFrameSize, "PRIORITY of %d bytes", len(p))
		}
		if binary.BigEndian.Uint32(p)&0x7fffffff == h.stream {
			// A stream error (RFC 9113 5.3.1); we keep no priorities.
			c.wkeep(appendRSTStream(c.wbuf(), h.stream, ErrCodeProtocol))
			if s := c.stream(h.stream); s != nil {
				c.dropStream(s)
			}
		}
		return c.charge()
	case frameRSTStream:
		return c.onRSTStream(h, p)
	case frameSettings:
		return c.onSettings(h, p)
	case framePushPromise:
		return connErr(ErrCodeProtocol, "PUSH_PROMISE from a client")
	case framePing:
		if h.stream != 0 {
			return connErr(ErrCodeProtocol, "PING on stream %d", h.stream)
		}
		if len(p) != 8 {
			return connErr(ErrCodeFrameSize, "PING of %d bytes", len(p))
		}
		if h.flags&flagAck != 0 {
			return nil // we never ping
		}
		// grpc-go clients ping after receiving data (bandwidth estimation):
		// free when we sent something since the last ping, as grpc-go's
		// server counts it.
		if c.sentSincePing {
			c.sentSincePing = false
		} else if err := c.charge(); err != nil {
			return err
		}
		b := appendFrameHeader(c.wbuf(), 8, framePing, flagAck, 0)
		c.wkeep(append(b, p...))
		return nil
	case frameGoAway:
		if h.stream != 0 {
			return connErr(ErrCodeProtocol, "GOAWAY on stream %d", h.stream)
		}
		if len(p) < 8 {
			return connErr(ErrCodeFrameSize, "GOAWAY of %d bytes", len(p))
		}
		c.peerGoAway = true
		return nil
	case frameWindowUpdate:
		return c.onWindowUpdate(h, p)
	}
	return nil // unknown frame types are ignored (RFC 9113 section 4.1)
}

func (c *conn) onSettings(h frameHeader, p []byte) error {
	if h.stream != 0 {
		return connErr(ErrCodeProtocol, "SETTINGS on stream %d", h.stream)
	}
	if h.flags&flagAck != 0 {
		if len(p) != 0 {
			return connErr(ErrCodeFrameSize, "SETTINGS ack with a payload")
		}
		c.settingsAcked = true
		if c.dec != nil {
			c.dec.SetAllowedMaxDynamicTableSize(0)
		}
		return nil
	}
	if len(p)%6 != 0 {
		return connErr(ErrCodeFrameSize, "SETTINGS of %d bytes", len(p))
	}
	if err := c.charge(); err != nil {
		return err
	}
	grew := false
	for ; len(p) > 0; p = p[6:] {
		id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
		switch id {
		case settingInitialWindowSize:
			if v > maxWindow {
				return connErr(ErrCodeFlowControl, "initial window %d", v)
			}
			delta := int64(v) - c.peerInitialWindow
			for _, s := range c.streams {
				s.sendWindow += delta
				if s.sendWindow > maxWindow {
					return connErr(ErrCodeFlowControl, "stream window overflow")
				}
			}
			c.peerInitialWindow = int64(v)
			grew = grew || delta > 0
		case settingMaxFrameSize:
			if v < maxFrameSize || v > 1<<24-1 {
				return connErr(ErrCodeProtocol, "max frame size %d", v)
			}
			c.peerMaxFrame = v
		case settingEnablePush:
			if v > 1 {
				return connErr(ErrCodeProtocol, "enable push %d", v)
			}
		}
	}
	c.wkeep(appendFrameHeader(c.wbuf(), 0, frameSettings, flagAck, 0))
	if grew {
		c.flushAll()
	}
	return nil
}

func (c *conn) onWindowUpdate(h frameHeader, p []byte) error {
	if len(p) != 4 {
		return connErr(ErrCodeFrameSize, "WINDOW_UPDATE of %d bytes", len(p))
	}
	// Not charged: it asks for no reply, and clients send one per burst
	// of our data.
	incr := int64(binary.BigEndian.Uint32(p) & 0x7fffffff)
	if h.stream == 0 {
		if incr == 0 {
			return connErr(ErrCodeProtocol, "WINDOW_UPDATE of 0")
		}
		c.sendWindow += incr
		if c.sendWindow > maxWindow {
			return connErr(ErrCodeFlowControl, "connection window overflow")
		}
		c.flushAll()
		return nil
	}
	if h.stream > c.lastStream {
		return connErr(ErrCodeProtocol, "WINDOW_UPDATE on idle stream %d", h.stream)
	}
	if incr == 0 {
		return connErr(ErrCodeProtocol, "WINDOW_UPDATE of 0")
	}
	s := c.stream(h.stream)
	if s == nil {
		return nil // closed stream
	}
	s.sendWindow += incr
	if s.sendWindow > maxWindow {
		return connErr(ErrCodeFlowControl, "stream window overflow")
	}
	c.flushStream(s)
	return nil
}

func (c *conn) onRSTStream(h frameHeader, p []byte) error {
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "RST_STREAM on stream 0")
	}
	if len(p) != 4 {
		return connErr(ErrCodeFrameSize, "RST_STREAM of %d bytes", len(p))
	}
	if h.stream > c.lastStream {
		return connErr(ErrCodeProtocol, "RST_STREAM on idle stream %d", h.stream)
	}
	if err := c.charge(); err != nil {
		return err
	}
	if s := c.stream(h.stream); s != nil {
		c.dropStream(s)
	}
	c.closedStream(h.stream, true) // the peer ended it: DATA after this is its error
	return nil
}

func (c *conn) stream(id uint32) *stream {
	for _, s := range c.streams {
		if s.id == id {
			return s
		}
	}
	return nil
}

// flushAll sends what the windows now allow on every stream.
func (c *conn) flushAll() {
	for i := 0; i < len(c.streams); {
		s := c.streams[i]
		c.flushStream(s)
		if i < len(c.streams) && c.streams[i] == s {
			i++
		}
	}
}

func (c *conn) removeStream(s *stream) {
	for i, x := range c.streams {
		if x == s {
			last := len(c.streams) - 1
			c.streams[i] = c.streams[last]
			c.streams[last] = nil
			c.streams = c.streams[:last]
			break
		}
	}
	if len(c.streams) == 0 {
		c.streams = nil
	}
}
