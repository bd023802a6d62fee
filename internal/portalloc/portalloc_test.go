package portalloc

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackPortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	var a Allocator
	seen := map[string]bool{}
	for range 500 {
		addr, err := a.Loopback()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		if p, _ := strconv.Atoi(port); p < low || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, low, high)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
	}
	// A port someone holds is skipped.
	addr, _ := a.Loopback()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	next := "127.0.0.1:" + strconv.Itoa(p+1)
	if p+1 < high {
		l, err := net.Listen("tcp", next)
		if err == nil {
			defer l.Close()
			if got, _ := a.Loopback(); got == next {
				t.Fatalf("handed out %s while it is bound", next)
			}
		}
	}
}

// Port hands out the same distinct, bindable ports as Loopback.
func TestPortForTests(t *testing.T) {
	var a Allocator
	p1, p2 := a.Port(t), a.Port(t)
	if p1 == p2 {
		t.Fatalf("the same port twice: %s", p1)
	}
	ln, err := net.Listen("tcp", p1)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
