// Package portalloc picks loopback TCP ports for processes that must be
// told their address before they bind it (tests and benchmarks that start
// controller clusters: retry_join needs every node's address up front).
//
// Asking the kernel for port 0 and closing the listener returns a port from
// the ephemeral range, which the kernel hands out again to the next outgoing
// connection of any process, so the port is often taken by the time the
// node binds it. Ports below the ephemeral range (32768-60999 on Linux) are
// only ever taken by someone binding them explicitly.
package portalloc

import (
	"fmt"
	"math/rand/v2"
	"net"
)

const (
	low  = 20000
	high = 32768 // Linux's default ip_local_port_range starts here
)

// Loopback returns a 127.0.0.1:port that was free a moment ago, below the
// ephemeral range.
func Loopback() (string, error) {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", low+rand.IntN(high-low))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("portalloc: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
