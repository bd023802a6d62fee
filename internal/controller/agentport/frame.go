package agentport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// HTTP/2 frame types (RFC 9113 section 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// Settings identifiers.
const (
	settingHeaderTableSize      = 0x1
	settingEnablePush           = 0x2
	settingMaxConcurrentStreams = 0x3
	settingInitialWindowSize    = 0x4
	settingMaxFrameSize         = 0x5
	settingMaxHeaderListSize    = 0x6
)

// ErrCode is an HTTP/2 error code.
type ErrCode uint32

// HTTP/2 error codes used here.
const (
	ErrCodeNo                ErrCode = 0x0
	ErrCodeProtocol          ErrCode = 0x1
	ErrCodeInternal          ErrCode = 0x2
	ErrCodeFlowControl       ErrCode = 0x3
	ErrCodeStreamClosed      ErrCode = 0x5
	ErrCodeFrameSize         ErrCode = 0x6
	ErrCodeRefusedStream     ErrCode = 0x7
	ErrCodeCancel            ErrCode = 0x8
	ErrCodeCompression       ErrCode = 0x9
	ErrCodeEnhanceYourCalm   ErrCode = 0xb
	ErrCodeInadequateSecuity ErrCode = 0xc
)

// ConnError is a connection error: the connection ends with GOAWAY(Code).
type ConnError struct {
	Code   ErrCode
	Reason string
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("http2 connection error %d: %s", e.Code, e.Reason)
}

// ErrProtocol is wrapped by every ConnError the peer caused.
var ErrProtocol = errors.New("agentport: peer broke the HTTP/2 protocol")

func (e *ConnError) Unwrap() error { return ErrProtocol }

func connErr(code ErrCode, format string, args ...any) error {
	return &ConnError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

const (
	frameHeaderLen = 9
	// maxFrameSize is the largest frame payload we accept (the HTTP/2
	// default, which we never raise) and send.
	maxFrameSize  = 16384
	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

type frameHeader struct {
	length uint32
	typ    uint8
	flags  uint8
	stream uint32
}

func parseFrameHeader(b *[frameHeaderLen]byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    b[3],
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:]) & 0x7fffffff,
	}
}

func appendFrameHeader(b []byte, length int, typ, flags uint8, stream uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), typ, flags,
		byte(stream>>24)&0x7f, byte(stream>>16), byte(stream>>8), byte(stream))
}

func appendSettings(b []byte, kv ...uint32) []byte {
	b = appendFrameHeader(b, len(kv)/2*6, frameSettings, 0, 0)
	for i := 0; i+1 < len(kv); i += 2 {
		b = binary.BigEndian.AppendUint16(b, uint16(kv[i]))
		b = binary.BigEndian.AppendUint32(b, kv[i+1])
	}
	return b
}

func appendWindowUpdate(b []byte, stream, incr uint32) []byte {
	b = appendFrameHeader(b, 4, frameWindowUpdate, 0, stream)
	return binary.BigEndian.AppendUint32(b, incr&0x7fffffff)
}

func appendRSTStream(b []byte, stream uint32, code ErrCode) []byte {
	b = appendFrameHeader(b, 4, frameRSTStream, 0, stream)
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

func appendGoAway(b []byte, lastStream uint32, code ErrCode, debug string) []byte {
	if len(debug) > 256 {
		debug = debug[:256]
	}
	b = appendFrameHeader(b, 8+len(debug), frameGoAway, 0, 0)
	b = binary.BigEndian.AppendUint32(b, lastStream&0x7fffffff)
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	return append(b, debug...)
}

// bufPool holds frame-sized buffers: payloads are read into one and it goes
// back as soon as the frame is handled, so an idle connection holds none.
type bufPool struct{ p sync.Pool }

func (bp *bufPool) get() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, maxFrameSize+frameHeaderLen)
	return &b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) > 4*(maxFrameSize+frameHeaderLen) {
		return // grown by a large write: let it go
	}
	*b = (*b)[:0]
	bp.p.Put(b)
}
