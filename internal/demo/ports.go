package demo

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// ErrPortInUse: an address the demo listens on is taken.
var ErrPortInUse = errors.New("address already in use")

// checkFree fails with a message naming the flag that moves addr when
// something already listens there.
func checkFree(addr, flag string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return portError(addr, flag, err)
	}
	return ln.Close()
}

// portError explains a failed listen on addr and names the flag that moves it.
func portError(addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("demo: %s is in use (another mxdemo or controller running?): %w; choose another address with --%s", addr, ErrPortInUse, flag)
	}
	return fmt.Errorf("demo: cannot listen on %s (--%s): %w", addr, flag, err)
}

// labAddrs gives n lab servers their addresses: first's port and the next
// ones, or free ports everywhere when first's port is 0.
func labAddrs(first string, n int) ([]string, error) {
	host, port, err := net.SplitHostPort(first)
	if err != nil {
		return nil, fmt.Errorf("demo: --lab-listen %q: want host:port: %w", first, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p+n-1 > 65535 {
		return nil, fmt.Errorf("demo: --lab-listen %q: port must be 0 (free ports) or 1-%d", first, 65535-n+1)
	}
	out := make([]string, n)
	for i := range out {
		q := 0
		if p != 0 {
			q = p + i
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(q))
	}
	return out, nil
}
