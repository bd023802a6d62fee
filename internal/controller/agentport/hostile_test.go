package agentport_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/agentport"
)

// rawServer serves ServeConn on loopback without TLS, for peers that write
// HTTP/2 frames by hand; done reports each connection's end.
func rawServer(t *testing.T) (addr string, done chan struct{}) {
	t.Helper()
	lean := agentport.New(agentport.Config{
		PrefaceTimeout: 300 * time.Millisecond,
		MaxMessage:     4 << 20,
		Methods: []agentport.Method{{Name: mxv1.AgentService_Connect_FullMethodName, NewRequest: func() proto.Message { return new(mxv1.ConnectRequest) },
			Open: func(context.Context) agentport.Session { return &session{closed: make(chan struct{})} }}},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { lean.ServeConn(c, nil); done <- struct{}{} }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = lean.Shutdown(ctx)
	})
	return ln.Addr().String(), done
}

type peer struct {
	t  *testing.T
	c  net.Conn
	fr *http2.Framer
}

func dialRaw(t *testing.T, addr string, preface bool) *peer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &peer{t: t, c: c, fr: http2.NewFramer(c, c)}
	p.fr.SetMaxReadFrameSize(1 << 20)
	if preface {
		if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
			t.Fatal(err)
		}
		if err := p.fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// goAway reads until GOAWAY and returns its code; it fails when the
// connection ends without one or stays open for 5s.
func (p *peer) goAway() http2.ErrCode {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Fatalf("no GOAWAY before: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			// Hang up, as a client does after GOAWAY: the server, which
			// reads until then so the GOAWAY is not lost to a reset, ends.
			_ = p.c.Close()
			return g.ErrCode
		}
	}
}

func (p *peer) closedWithin(d time.Duration) bool {
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if _, err := p.c.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !(ok && ne.Timeout())
		}
	}
}

func connectHeaders(t *testing.T) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", mxv1.AgentService_Connect_FullMethodName},
		{":authority", "controller"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestHostilePeersGetGoAwayAndTheGoroutineEnds(t *testing.T) {
	addr, done := rawServer(t)
	cases := []struct {
		name string
		act  func(p *peer)
		want http2.ErrCode
	}{
		{"oversized frame", func(p *peer) {
			_ = p.fr.WriteData(1, false, make([]byte, 20000))
		}, http2.ErrCodeFrameSize},
		{"ping flood", func(p *peer) {
			for i := 0; i < 300; i++ {
				if p.fr.WritePing(false, [8]byte{byte(i)}) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"garbage header block", func(p *peer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, EndHeaders: true})
		}, http2.ErrCodeCompression},
		{"endless CONTINUATION", func(p *peer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectHeaders(p.t)})
			for i := 0; i < 100; i++ {
				if p.fr.WriteContinuation(1, false, make([]byte, 1000)) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"rapid reset", func(p *peer) {
			for id := uint32(1); id < 600; id += 2 {
				if p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connectHeaders(p.t), EndHeaders: true}) != nil ||
					p.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"DATA on an idle stream", func(p *peer) {
			_ = p.fr.WriteData(7, false, []byte("x"))
		}, http2.ErrCodeProtocol},
		{"client trailers on a stream id reused", func(p *peer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: connectHeaders(p.t), EndHeaders: true})
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: connectHeaders(p.t), EndHeaders: true})
		}, http2.ErrCodeStreamClosed},
		{"PUSH_PROMISE from a client", func(p *peer) {
			_ = p.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: connectHeaders(p.t), EndHeaders: true})
		}, http2.ErrCodeProtocol},
		{"window overflow", func(p *peer) {
			_ = p.fr.WriteWindowUpdate(0, 1<<31-1)
		}, http2.ErrCodeFlowControl},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, addr, true)
			go tc.act(p)
			if got := p.goAway(); got != tc.want {
				t.Fatalf("GOAWAY %v, want %v", got, tc.want)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("server goroutine still running")
			}
		})
	}
}

func TestBadOrMissingPrefaceIsDropped(t *testing.T) {
	addr, done := rawServer(t)
	p := dialRaw(t, addr, false)
	_, _ = p.c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if !p.closedWithin(3 * time.Second) {
		t.Fatal("HTTP/1.1 request: connection still open")
	}
	<-done
	start := time.Now()
	p = dialRaw(t, addr, false) // says nothing
	if !p.closedWithin(3 * time.Second) {
		t.Fatal("silent peer: connection still open after 3s")
	}
	<-done
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("silent peer dropped after %s, before the 300ms preface timeout", d)
	}
}
