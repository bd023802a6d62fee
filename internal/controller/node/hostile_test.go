package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// hostileNode is a one-node secure controller whose gRPC port drops a
// peer that has not finished its handshake after 300 ms, and a client TLS
// configuration with a valid agent certificate: the hostile peers below get
// as far as an enrolled agent does.
func hostileNode(t *testing.T) (*Node, *tls.Config) {
	t.Helper()
	sc := newSecureCluster(t, 1, func(c *Config) {
		c.handshakeTimeout = 300 * time.Millisecond
	})
	clusterCA, agentCA, nodes := sc.clusterCA, sc.agentCA, sc.nodes
	l := leader(t, nodes)
	return l.n, certFrom(t, agentCA, clusterCA, time.Now(), time.Hour)
}

type rawPeer struct {
	t  *testing.T
	c  net.Conn
	fr *http2.Framer
}

// dialH2 opens a TLS connection with ALPN h2 and sends the client preface
// and SETTINGS, as a gRPC client does, and then whatever the test writes.
func dialH2(t *testing.T, addr string, cfg *tls.Config) *rawPeer {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rawPeer{t: t, c: c, fr: http2.NewFramer(c, c)}
	p.fr.SetMaxReadFrameSize(1 << 20)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return p
}

// ended reads until the server ends the connection and returns the GOAWAY
// code it sent on the way (ok false without one). It fails the test when
// the connection is still open after 10 s.
func (p *rawPeer) ended() (code http2.ErrCode, goAway bool) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatal("the server kept the connection open")
			}
			return code, goAway
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			code, goAway = g.ErrCode, true
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

// TestHostilePeersAreDisconnected: peers holding a valid agent certificate
// that break HTTP/2 or flood it lose their connection (with GOAWAY where
// grpc-go sends one), a silent or non-HTTP/2 peer is dropped after the
// handshake bound, and afterwards an agent still streams and the node's
// goroutines are back where they were.
func TestHostilePeersAreDisconnected(t *testing.T) {
	n, agentTLS := hostileNode(t)
	addr := n.GRPCAddr()
	baseline := runtime.NumGoroutine()

	cases := []struct {
		name string
		act  func(p *rawPeer)
		want http2.ErrCode // checked when wantGoAway
		// wantGoAway: grpc-go answers with GOAWAY before closing; other
		// violations close the connection at once.
		wantGoAway bool
	}{
		{"ping flood", func(p *rawPeer) {
			for i := range 300 {
				if p.fr.WritePing(false, [8]byte{byte(i)}) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm, true},
		{"frame over the 16 KiB maximum", func(p *rawPeer) {
			_ = p.fr.WriteData(1, false, make([]byte, 20000))
		}, 0, false},
		{"garbage header block", func(p *rawPeer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, EndHeaders: true})
		}, 0, false},
		{"endless CONTINUATION", func(p *rawPeer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectHeaders(p.t)})
			// 16 MiB of header block, far over the 64 KiB header list bound.
			var fb bytes.Buffer
			_ = hpack.NewEncoder(&fb).WriteField(hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("x", 1000), Sensitive: true})
			filler := fb.Bytes()
			for range 16 << 10 {
				if p.fr.WriteContinuation(1, false, filler) != nil {
					return
				}
			}
		}, 0, false},
		{"stream ids going backwards", func(p *rawPeer) {
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: connectHeaders(p.t), EndHeaders: true})
			_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: connectHeaders(p.t), EndHeaders: true})
		}, http2.ErrCodeProtocol, true},
		{"HTTP/1.1 instead of HTTP/2", func(p *rawPeer) {
			_, _ = p.c.Write([]byte("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialH2(t, addr, agentTLS)
			go tc.act(p)
			code, goAway := p.ended()
			if tc.wantGoAway && (!goAway || code != tc.want) {
				t.Fatalf("GOAWAY %v (sent: %v), want %v", code, goAway, tc.want)
			}
		})
	}

	t.Run("silent after TCP connect", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection of a silent peer not closed: %v", err)
		}
	})
	t.Run("silent after TLS", func(t *testing.T) {
		cfg := agentTLS.Clone()
		cfg.NextProtos = []string{"h2"}
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("connection of a peer silent after TLS not closed: %v", err)
		}
	})

	// Rapid reset: streams opened and cancelled at once run at most
	// MaxConcurrentStreams handlers at a time; the connection stays usable
	// and nothing is left behind once it closes.
	t.Run("rapid reset", func(t *testing.T) {
		p := dialH2(t, addr, agentTLS)
		for id := uint32(1); id < 2000; id += 2 {
			if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connectHeaders(t), EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
			if err := p.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.fr.WritePing(false, [8]byte{1}); err != nil {
			t.Fatal(err)
		}
		_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				t.Fatalf("connection ended after the resets: %v", err)
			}
			if pf, ok := f.(*http2.PingFrame); ok && pf.IsAck() {
				break
			}
		}
		p.c.Close()
	})

	t.Run("request over the message limit", func(t *testing.T) {
		st, _ := connect(t, dialTLS(t, addr, agentTLS), "edge01")
		big := &mxv1.ResultBatch{Seq: 1, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/s",
			Status: mxv1.CheckStatus_CHECK_STATUS_ERROR, Error: strings.Repeat("x", maxRequest+1)}}}
		if err := st.Send(&mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: big}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("oversized batch: %v, want ResourceExhausted", err)
		}
	})

	// After all that an agent connects and is acknowledged.
	st, _ := connect(t, dialTLS(t, addr, agentTLS), "edge01")
	sendBatch(t, st, 1, "CERT_NO_PRIVATE_KEY")
	_ = st.CloseSend()

	// Every hostile connection's goroutines ended (the agent's own
	// connection above holds a few, and the node's background work a few).
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > baseline+10 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the hostile peers:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
