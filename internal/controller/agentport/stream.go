package agentport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// stream is one gRPC call.
type stream struct {
	id      uint32
	m       *Method
	ctx     context.Context
	cancel  context.CancelFunc
	session Session

	recvWindow, recvUnacked int32
	sendWindow              int64

	prefix  [5]byte // gRPC message prefix being read
	prefixN uint8
	msg     []byte  // message body being read; nil between messages
	msgBuf  *[]byte // the pooled buffer behind msg, if it is one
	msgLen  uint32
	unary   proto.Message // a unary call's request, once read

	contentLength, dataLen int64 // declared (-1: none) and received DATA bytes

	remoteClosed bool // END_STREAM received
	headersSent  bool
	finishing    bool
	pending      []byte         // DATA waiting for window
	final        *status.Status // trailers to send once pending is out
}

func (c *conn) onHeaders(h frameHeader, p []byte) error {
	id := h.stream
	if id == 0 || id%2 == 0 {
		return connErr(ErrCodeProtocol, "HEADERS on stream %d", id)
	}
	if c.stream(id) != nil {
		return connErr(ErrCodeProtocol, "trailers from a client on stream %d", id)
	}
	if id <= c.lastStream {
		return connErr(ErrCodeStreamClosed, "HEADERS on closed stream %d", id)
	}
	c.lastStream = id
	if h.flags&flagPadded != 0 {
		if len(p) == 0 || int(p[0]) >= len(p) {
			return connErr(ErrCodeProtocol, "bad HEADERS padding")
		}
		p = p[1 : len(p)-int(p[0])]
	}
	c.hselfDep = false
	if h.flags&flagPriority != 0 {
		if len(p) < 5 {
			return connErr(ErrCodeFrameSize, "short HEADERS priority")
		}
		c.hselfDep = binary.BigEndian.Uint32(p)&0x7fffffff == id
		p = p[5:]
	}
	c.hblock = append(make([]byte, 0, len(p)), p...)
	c.hstream, c.hflags = id, h.flags
	if h.flags&flagEndHeaders != 0 {
		return c.endHeaders()
	}
	return nil
}

func (c *conn) onContinuation(h frameHeader, p []byte) error {
	if c.hstream == 0 || h.stream != c.hstream {
		return connErr(ErrCodeProtocol, "CONTINUATION without HEADERS")
	}
	if len(c.hblock)+len(p) > maxHeaderList {
		return connErr(ErrCodeEnhanceYourCalm, "header block over %d bytes", maxHeaderList)
	}
	if len(p) == 0 && h.flags&flagEndHeaders == 0 {
		if err := c.charge(); err != nil {
			return err
		}
	}
	c.hblock = append(c.hblock, p...)
	if h.flags&flagEndHeaders != 0 {
		return c.endHeaders()
	}
	return nil
}

func (c *conn) endHeaders() error {
	block, id, flags := c.hblock, c.hstream, c.hflags
	c.hblock, c.hstream, c.hflags = nil, 0, 0
	if c.dec == nil {
		c.dec = hpack.NewDecoder(4096, c.onField)
		c.dec.SetMaxStringLength(maxHeaderList)
		if c.settingsAcked {
			c.dec.SetAllowedMaxDynamicTableSize(0)
		}
	}
	r := &request{contentLength: -1}
	c.req = r
	_, err := c.dec.Write(block)
	if err == nil {
		err = c.dec.Close()
	}
	c.req = nil
	if err != nil {
		return connErr(ErrCodeCompression, "header block: %v", err)
	}
	r.check()
	if c.hselfDep {
		r.malformed = "stream depends on itself"
	}
	return c.open(id, r, flags&flagEndStream != 0)
}

func (c *conn) onField(f hpack.HeaderField) {
	if c.req != nil {
		c.req.field(f)
	}
}

// open starts a call, or answers it at once when it cannot run.
func (c *conn) open(id uint32, r *request, endStream bool) error {
	if c.peerGoAway || len(c.streams) >= maxStreams || r.malformed != "" || r.path == "" {
		if err := c.charge(); err != nil {
			return err
		}
		code := ErrCodeRefusedStream
		if r.malformed != "" || r.path == "" {
			code = ErrCodeProtocol
		}
		c.wkeep(appendRSTStream(c.wbuf(), id, code))
		c.closedStream(id, endStream)
		return nil
	}
	switch {
	case r.method != "POST":
		// Not gRPC: an HTTP answer rather than a reset.
		c.httpError(id, endStream, "405", "allow", "POST")
		return c.charge()
	case !strings.HasPrefix(r.contentType, "application/grpc"):
		// HTTP 415, as grpc-go answers.
		c.httpError(id, endStream, "415", "grpc-status", strconv.Itoa(int(codes.Internal)),
			"grpc-message", encodeGRPCMessage("invalid gRPC request content-type "+strconv.Quote(r.contentType)))
		return c.charge()
	}
	s := &stream{id: id, recvWindow: initialWindow, sendWindow: c.peerInitialWindow, remoteClosed: endStream, contentLength: r.contentLength}
	c.streams = append(c.streams, s)
	m := c.srv.methods[r.path]
	if m == nil {
		c.finish(s, status.Newf(codes.Unimplemented, "unknown method %s on the agent port", r.path))
		return c.charge()
	}
	if r.encoding != "" && r.encoding != "identity" {
		c.finish(s, status.Newf(codes.Unimplemented, "grpc-encoding %q is not supported", r.encoding))
		return c.charge()
	}
	ctx := c.base
	if r.md != nil {
		ctx = metadata.NewIncomingContext(ctx, r.md)
	}
	if r.hasTimeout {
		ctx, s.cancel = context.WithTimeout(ctx, r.timeout)
	}
	if a := c.srv.cfg.Authorize; a != nil {
		actx, err := a(ctx, r.path)
		if err != nil {
			c.finish(s, toStatus(err))
			return c.charge()
		}
		ctx = actx
	}
	s.ctx, s.m = ctx, m
	if m.Open != nil {
		s.session = m.Open(ctx)
	}
	if endStream {
		return c.remoteEnd(s)
	}
	return nil
}

// httpError answers a request that is not a gRPC call with an HTTP status
// and headers (name, value pairs), ending the stream.
func (c *conn) httpError(id uint32, endStream bool, code string, kv ...string) {
	block := appendLiteral(make([]byte, 0, 128), ":status", code)
	for i := 0; i+1 < len(kv); i += 2 {
		block = appendLiteral(block, kv[i], kv[i+1])
	}
	b := appendFrameHeader(c.wbuf(), len(block), frameHeaders, flagEndHeaders|flagEndStream, id)
	b = append(b, block...)
	if !endStream {
		b = appendRSTStream(b, id, ErrCodeNo)
	}
	c.wkeep(b)
	c.closedStream(id, endStream)
}

// closedStream remembers a stream that ended after the peer's END_STREAM:
// DATA on it afterwards is the peer's error (STREAM_CLOSED), while DATA on
// a stream we reset may still be in flight and is ignored.
func (c *conn) closedStream(id uint32, remoteClosed bool) {
	if !remoteClosed {
		return
	}
	c.endedByPeer[c.endedNext%uint8(len(c.endedByPeer))] = id
	c.endedNext++
}

func (c *conn) endedAfterPeerEnd(id uint32) bool {
	for _, x := range c.endedByPeer {
		if x == id {
			return true
		}
	}
	return false
}

func (c *conn) onData(h frameHeader, p []byte) error {
	if h.stream == 0 {
		return connErr(ErrCodeProtocol, "DATA on stream 0")
	}
	if h.stream > c.lastStream {
		return connErr(ErrCodeProtocol, "DATA on idle stream %d", h.stream)
	}
	n := int32(len(p))
	c.recvWindow -= n
	if c.recvWindow < 0 {
		return connErr(ErrCodeFlowControl, "DATA beyond the connection window")
	}
	c.recvUnacked += n
	if c.recvUnacked >= initialConnWindow/4 {
		c.wkeep(appendWindowUpdate(c.wbuf(), 0, uint32(c.recvUnacked)))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
	data := p
	if h.flags&flagPadded != 0 {
		if len(p) == 0 || int(p[0]) >= len(p) {
			return connErr(ErrCodeProtocol, "bad DATA padding")
		}
		data = p[1 : len(p)-int(p[0])]
	}
	s := c.stream(h.stream)
	if s == nil {
		if c.endedAfterPeerEnd(h.stream) {
			return connErr(ErrCodeStreamClosed, "DATA after END_STREAM on stream %d", h.stream)
		}
		return nil // reset: counted for the connection, ignored
	}
	if s.remoteClosed {
		return connErr(ErrCodeStreamClosed, "DATA after END_STREAM on stream %d", s.id)
	}
	s.recvWindow -= n
	if s.recvWindow < 0 {
		return connErr(ErrCodeFlowControl, "DATA beyond the window of stream %d", s.id)
	}
	if len(data) == 0 && h.flags&flagEndStream == 0 {
		if err := c.charge(); err != nil {
			return err
		}
	}
	if s.contentLength >= 0 {
		s.dataLen += int64(len(data))
		if s.dataLen > s.contentLength || h.flags&flagEndStream != 0 && s.dataLen != s.contentLength {
			c.finishMalformed(s)
			return nil
		}
	}
	if !s.finishing {
		if err := c.consume(s, data); err != nil {
			return err
		}
	}
	if h.flags&flagEndStream != 0 {
		s.remoteClosed = true
		if !s.finishing {
			return c.remoteEnd(s)
		}
		return nil
	}
	if !s.finishing {
		s.recvUnacked += n
		if s.recvUnacked >= initialWindow/4 {
			c.wkeep(appendWindowUpdate(c.wbuf(), s.id, uint32(s.recvUnacked)))
			s.recvWindow += s.recvUnacked
			s.recvUnacked = 0
		}
	}
	return nil
}

// consume feeds DATA into the stream's gRPC message framing.
func (c *conn) consume(s *stream, p []byte) error {
	for len(p) > 0 && !s.finishing {
		if s.msg == nil {
			n := copy(s.prefix[s.prefixN:], p)
			s.prefixN += uint8(n)
			p = p[n:]
			if s.prefixN < 5 {
				return nil
			}
			if s.prefix[0] != 0 {
				c.finish(s, status.New(codes.Unimplemented, "compressed messages are not supported on the agent port"))
				return nil
			}
			s.msgLen = binary.BigEndian.Uint32(s.prefix[1:])
			if int64(s.msgLen) > int64(s.m.MaxRequest) {
				c.finish(s, status.Newf(codes.ResourceExhausted, "message of %d bytes exceeds the limit of %d", s.msgLen, s.m.MaxRequest))
				return nil
			}
			if s.msgLen <= maxFrameSize+frameHeaderLen {
				// Most requests (an agent round is a few KB) fit a pooled
				// frame buffer, returned once the message is decoded.
				s.msgBuf = c.srv.bufs.get()
				s.msg = (*s.msgBuf)[:0]
			} else {
				s.msg = make([]byte, 0, min(s.msgLen, 64<<10))
			}
		}
		n := min(len(p), int(s.msgLen)-len(s.msg))
		s.msg = append(s.msg, p[:n]...)
		p = p[n:]
		if len(s.msg) == int(s.msgLen) {
			msg, buf := s.msg, s.msgBuf
			s.msg, s.msgBuf, s.prefixN = nil, nil, 0
			err := c.deliver(s, msg) // proto.Unmarshal copies what it keeps
			if buf != nil {
				c.srv.bufs.put(buf)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver hands one request message to the call.
func (c *conn) deliver(s *stream, b []byte) error {
	req := s.m.NewRequest()
	if err := proto.Unmarshal(b, req); err != nil {
		c.finish(s, status.Newf(codes.InvalidArgument, "cannot parse the request message: %v", err))
		return nil
	}
	if s.m.Unary != nil {
		if s.unary != nil {
			c.finish(s, status.New(codes.InvalidArgument, "a unary call sent more than one request message"))
			return nil
		}
		s.unary = req
		return nil
	}
	// Whatever is queued goes out before the handler, which may block.
	if err := c.flush(); err != nil {
		return err
	}
	resp, done, err := s.session.Handle(s.ctx, req)
	if resp != nil && err == nil {
		if err := c.send(s, resp); err != nil {
			return err
		}
	}
	switch {
	case err != nil:
		c.finish(s, toStatus(err))
	case done:
		c.finish(s, status.New(codes.OK, ""))
	}
	return nil
}

// remoteEnd handles END_STREAM: a unary call runs, a stream call ends.
func (c *conn) remoteEnd(s *stream) error {
	s.remoteClosed = true
	if s.msg != nil || s.prefixN > 0 {
		c.finish(s, status.New(codes.InvalidArgument, "the request ended inside a message"))
		return nil
	}
	if s.m.Unary == nil {
		c.finish(s, status.New(codes.OK, ""))
		return nil
	}
	if s.unary == nil {
		c.finish(s, status.New(codes.InvalidArgument, "a unary call sent no request message"))
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	resp, err := s.m.Unary(s.ctx, s.unary)
	s.unary = nil
	if err != nil {
		c.finish(s, toStatus(err))
		return nil
	}
	if err := c.send(s, resp); err != nil {
		return err
	}
	c.finish(s, status.New(codes.OK, ""))
	return nil
}

// send queues one response message and writes what the windows allow.
func (c *conn) send(s *stream, m proto.Message) error {
	if s.finishing {
		return nil
	}
	b, err := proto.Marshal(m)
	if err != nil {
		c.finish(s, status.Newf(codes.Internal, "cannot encode the response: %v", err))
		return nil
	}
	if !s.headersSent {
		s.headersSent = true
		block := append(make([]byte, 0, 48), status200)
		block = appendLiteral(block, "content-type", "application/grpc")
		buf := appendFrameHeader(c.wbuf(), len(block), frameHeaders, flagEndHeaders, s.id)
		c.wkeep(append(buf, block...))
	}
	// One response may be large; a queue of them means the peer is not
	// reading.
	if len(s.pending) > 0 && len(s.pending)+5+len(b) > maxPendingOut {
		return connErr(ErrCodeEnhanceYourCalm, "peer does not read its responses")
	}
	s.pending = binary.BigEndian.AppendUint32(append(s.pending, 0), uint32(len(b)))
	s.pending = append(s.pending, b...)
	c.flushStream(s)
	return nil
}

// flushStream writes queued DATA within the windows, then the trailers
// once all is out.
func (c *conn) flushStream(s *stream) {
	for len(s.pending) > 0 {
		n := min(int64(len(s.pending)), c.sendWindow, s.sendWindow, int64(min(c.peerMaxFrame, maxFrameSize)))
		if n <= 0 {
			return
		}
		b := appendFrameHeader(c.wbuf(), int(n), frameData, 0, s.id)
		c.wkeep(append(b, s.pending[:n]...))
		c.sentSincePing = true
		s.pending = s.pending[n:]
		c.sendWindow -= n
		s.sendWindow -= n
	}
	s.pending = nil
	if s.final != nil {
		c.writeTrailers(s)
	}
}

// finish ends a call with st: trailers now, or once queued DATA is out.
func (c *conn) finish(s *stream, st *status.Status) {
	if s.finishing {
		return
	}
	s.finishing = true
	s.final = st
	c.releaseMsg(s)
	s.unary = nil
	c.endCall(s)
	if len(s.pending) == 0 {
		c.writeTrailers(s)
	}
}

func (c *conn) endCall(s *stream) {
	if s.session != nil {
		s.session.Close()
		s.session = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

func (c *conn) writeTrailers(s *stream) {
	st := s.final
	s.final = nil
	block := make([]byte, 0, 64+len(st.Message()))
	if !s.headersSent {
		block = append(block, status200)
		block = appendLiteral(block, "content-type", "application/grpc")
	}
	block = appendLiteral(block, "grpc-status", strconv.Itoa(int(st.Code())))
	if msg := st.Message(); msg != "" {
		block = appendLiteral(block, "grpc-message", encodeGRPCMessage(msg))
	}
	b := appendFrameHeader(c.wbuf(), len(block), frameHeaders, flagEndHeaders|flagEndStream, s.id)
	b = append(b, block...)
	if !s.remoteClosed {
		// The call is over; the client need not finish sending.
		b = appendRSTStream(b, s.id, ErrCodeNo)
	}
	c.wkeep(b)
	c.closedStream(s.id, s.remoteClosed)
	c.removeStream(s)
}

// dropStream forgets a stream without answering (reset by the peer, or the
// connection is going away).
func (c *conn) dropStream(s *stream) {
	s.finishing = true
	c.releaseMsg(s)
	s.pending, s.final, s.unary = nil, nil, nil
	c.endCall(s)
	c.removeStream(s)
}

// finishMalformed ends a call whose request broke HTTP's rules (RFC 9113
// 8.1.1): a stream error PROTOCOL_ERROR.
func (c *conn) finishMalformed(s *stream) {
	s.remoteClosed = true // nothing more is read on it
	c.wkeep(appendRSTStream(c.wbuf(), s.id, ErrCodeProtocol))
	c.dropStream(s)
	c.closedStream(s.id, true)
}

// releaseMsg drops a partly read message, returning its pooled buffer.
func (c *conn) releaseMsg(s *stream) {
	if s.msgBuf != nil {
		c.srv.bufs.put(s.msgBuf)
	}
	s.msg, s.msgBuf = nil, nil
}

func toStatus(err error) *status.Status {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if _, ok := status.FromError(err); !ok {
			return status.FromContextError(err)
		}
	}
	return status.Convert(err)
}

// encodeGRPCMessage percent-encodes a grpc-message value (gRPC over HTTP/2:
// bytes outside 0x20-0x7E, and '%', are %XX).
func encodeGRPCMessage(msg string) string {
	const maxLen = 4 << 10
	if len(msg) > maxLen {
		msg = msg[:maxLen]
	}
	var sb strings.Builder
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch >= 0x20 && ch <= 0x7e && ch != '%' {
			sb.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&sb, "%%%02X", ch)
	}
	return sb.String()
}
