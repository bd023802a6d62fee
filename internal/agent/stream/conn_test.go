package stream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// recordingListener keeps every byte its connections read, so a test can
// read back the HTTP/2 frames a client sent.
type recordingListener struct {
	net.Listener
	mu  sync.Mutex
	got []*bytes.Buffer
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	buf := &bytes.Buffer{}
	l.mu.Lock()
	l.got = append(l.got, buf)
	l.mu.Unlock()
	return &recordingConn{Conn: c, l: l, buf: buf}, nil
}

// frames counts the frames of each type the clients sent, and the PING
// frames that were not acks of the server's.
func (l *recordingListener) frames(t *testing.T) (types map[http2.FrameType]int, pings int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	types = map[http2.FrameType]int{}
	for _, b := range l.got {
		data := bytes.Clone(b.Bytes())
		if !bytes.HasPrefix(data, []byte(http2.ClientPreface)) {
			t.Fatalf("connection did not start with the HTTP/2 preface: %q", data[:min(len(data), 24)])
		}
		fr := http2.NewFramer(io.Discard, bytes.NewReader(data[len(http2.ClientPreface):]))
		for {
			f, err := fr.ReadFrame()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading the client's frames: %v", err)
			}
			types[f.Header().Type]++
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				pings++
			}
		}
	}
	return types, pings
}

type recordingConn struct {
	net.Conn
	l   *recordingListener
	buf *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// An agent streaming batches sends the controller its batches and the
// window updates for the acks it reads, and no pings of its own: its
// receive windows are fixed (ConnOptions), so grpc-go's bandwidth
// estimation, which pings once a round trip while acks arrive, is off.
// (With grpc-go's dynamic windows this test counted 77 pings for 300 acks;
// every ping costs the controller a read and a write.) Keepalive pings come only after 10 s
// without reads, longer than this test streams for.
func TestClientSendsNoBandwidthPings(t *testing.T) {
	state := &committed{}
	c := &testController{mode: acking, state: state}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingListener{Listener: countingListener{ln, &c.conns}}
	serveOn(t, c, rec)
	run(t, 10*time.Second, 300, 100, c)
	types, pings := rec.frames(t)
	if types[http2.FrameData] < 300 {
		t.Fatalf("the controller read %d DATA frames from the client, want at least one per batch (300): %v", types[http2.FrameData], types)
	}
	if pings != 0 {
		t.Fatalf("the client sent %d pings while streaming 300 batches (frames %v), want none", pings, types)
	}
}
