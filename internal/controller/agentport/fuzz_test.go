package agentport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/agentport"
)

func grpcMessage(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b))), b...)
}

// FuzzConn feeds arbitrary frames (after a valid preface and SETTINGS) to
// a connection: it must end, without panicking, once the peer hangs up.
func FuzzConn(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectHeaders(&testing.T{}), EndHeaders: true})
	_ = fr.WriteData(1, false, grpcMessage(f, hello(nil)))
	_ = fr.WriteData(1, false, grpcMessage(f, batch(1, 10)))
	_ = fr.WritePing(false, [8]byte{1})
	_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	_ = fr.WriteWindowUpdate(1, 100)
	_ = fr.WriteData(1, true, grpcMessage(f, batch(2, 10))[:7])
	f.Add(seed.Bytes())
	seed.Reset()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectHeaders(&testing.T{})[:5], EndHeaders: false})
	_ = fr.WriteContinuation(1, true, connectHeaders(&testing.T{})[5:])
	_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
	_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1})

	lean := agentport.New(agentport.Config{
		PrefaceTimeout: time.Second,
		MaxMessage:     1 << 20,
		Methods: []agentport.Method{{Name: mxv1.AgentService_Connect_FullMethodName, NewRequest: func() proto.Message { return new(mxv1.ConnectRequest) },
			Open: func(context.Context) agentport.Session { return &session{closed: make(chan struct{})} }}},
	})
	var start bytes.Buffer
	start.WriteString(http2.ClientPreface)
	_ = http2.NewFramer(&start, nil).WriteSettings()
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, cli := net.Pipe()
		done := make(chan struct{})
		go func() { lean.ServeConn(srv, nil); close(done) }()
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, cli); close(drained) }()
		_, _ = cli.Write(append(start.Bytes()[:start.Len():start.Len()], data...))
		_ = cli.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection still served 5s after the peer hung up")
		}
		<-drained
	})
}
