package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is a TCP proxy between agents and a controller that can hold
// either direction (bytes are read and kept, not delivered, as a network
// that stopped forwarding) or cut every connection and refuse new ones.
type faultProxy struct {
	ln     net.Listener
	target string
	// holdDown stops controller -> agent bytes (acks never arrive),
	// holdUp agent -> controller bytes (batches never arrive).
	holdDown, holdUp atomic.Bool
	down             atomic.Bool
	mu               sync.Mutex
	conns            map[net.Conn]struct{}
	wg               sync.WaitGroup
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, s)
		p.wg.Add(2)
		go p.pipe(s, c, &p.holdUp)
		go p.pipe(c, s, &p.holdDown)
	}
}

func (p *faultProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// pipe copies src to dst, holding bytes while hold is set.
func (p *faultProxy) pipe(dst, src net.Conn, hold *atomic.Bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && hold.Load() && !p.down.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		if n > 0 && !p.down.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil || p.down.Load() {
			if err != nil && err != io.EOF {
				return
			}
			return
		}
	}
}

// cut closes every connection and refuses new ones until up.
func (p *faultProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
}

// up accepts and forwards again, both directions.
func (p *faultProxy) up() {
	p.holdDown.Store(false)
	p.holdUp.Store(false)
	p.down.Store(false)
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
