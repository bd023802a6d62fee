package store

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// BenchmarkTransportDecode sends one append RPC of about 4 MiB of entries
// through hashicorp/raft's network transport on loopback (no TLS) and
// waits for the answer: as one entry of 4 MiB, and as seventeen entries of
// at most IngestEntryBytes. The receiving side's decoder grows a byte
// slice beyond 256 KiB in 256 KiB steps, copying all of it each time, so
// the single large entry costs many times the allocations and CPU
// (IngestEntryBytes says why ingest entries stay small). It reports the
// process's CPU per RPC, both sides together, next to wall time.
func BenchmarkTransportDecode(b *testing.B) {
	for _, c := range []struct {
		name       string
		n, entries int
	}{{"entry=4MiB", 4 << 20, 1}, {"entries=17x250KiB", 250 << 10, 17}} {
		b.Run(c.name, func(b *testing.B) {
			send, recv := benchTransport(b), benchTransport(b)
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case rpc := <-recv.Consumer():
						rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
					case <-stop:
						return
					}
				}
			}()
			defer func() {
				close(stop)
				<-done
				send.CloseStreams() // the receiver's connection handler ends on EOF
				send.Close()
				recv.Close()
			}()
			req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("c1"), Addr: []byte(send.LocalAddr())}, Term: 1}
			for i := range c.entries {
				req.Entries = append(req.Entries, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, c.n)})
			}
			b.SetBytes(int64(c.n * c.entries))
			b.ReportAllocs()
			start, n := cpuNow(), 0
			for b.Loop() {
				var resp raft.AppendEntriesResponse
				if err := send.AppendEntries("c2", recv.LocalAddr(), req, &resp); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuNow()-start)/float64(n)/1e6, "cpu-ms/op")
		})
	}
}

func benchTransport(b *testing.B) *raft.NetworkTransport {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return raft.NewNetworkTransportWithLogger(&streamLayer{Listener: ln, advertise: ln.Addr()}, 3, 10*time.Second, hclog.NewNullLogger())
}
