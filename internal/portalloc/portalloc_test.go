package portalloc

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackIsBindableAndOutsideTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		addr, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		if p, _ := strconv.Atoi(port); p < low || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, low, high)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s not bindable: %v", addr, err)
		}
		l.Close()
		seen[addr] = true
	}
	if len(seen) < 15 {
		t.Fatalf("only %d distinct ports in 20 draws", len(seen))
	}
}
