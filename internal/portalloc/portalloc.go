// Package portalloc picks loopback TCP ports for processes that must be
// told their address before they bind it (tests and benchmarks that start
// controller clusters: retry_join needs every node's address up front).
//
// Asking the kernel for port 0 and closing the listener returns a port from
// the ephemeral range, which the kernel hands out again to the next outgoing
// connection of any process, so the port is often taken by the time the
// node binds it. An Allocator walks the ports below the ephemeral range
// (32768-60999 on Linux), which only someone binding them explicitly takes,
// from a random start, so it never hands out the same port twice and
// parallel test processes rarely meet.
package portalloc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

const (
	low  = 20000
	high = 32768 // Linux's default ip_local_port_range starts here
)

// Allocator hands out distinct free loopback ports. The zero value is ready
// to use; keep one per process (e.g. a package-level variable of a test
// package) so its ports never repeat.
type Allocator struct {
	mu   sync.Mutex
	next int
}

// Loopback returns a 127.0.0.1:port that was free a moment ago.
func (a *Allocator) Loopback() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == 0 {
		a.next = low + rand.IntN(high-low)
	}
	for range high - low {
		port := a.next
		if a.next++; a.next >= high {
			a.next = low
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("portalloc: no free port in %d-%d", low, high-1)
}

// TB is the part of testing.TB Port uses (so that this package does not
// link package testing into the binaries that use it).
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Port is Loopback for a test or benchmark: it fails t when no port is free.
func (a *Allocator) Port(t TB) string {
	t.Helper()
	addr, err := a.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
