package bench

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"time"
)

// Bogus holds n hostile connections open against addr until ctx ends:
// a third stay silent, a third send garbage slowly, a third send an
// HTTP/2 preface and then nothing. It returns how many were accepted.
func Bogus(ctx context.Context, addr string, n int) (int, func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			mu.Lock()
			opened++
			mu.Unlock()
			buf := make([]byte, 64)
			switch i % 3 {
			case 1:
				for ctx.Err() == nil {
					_, _ = rand.Read(buf)
					if _, err := c.Write(buf); err != nil {
						// Dropped by the server: reconnect and keep pressing.
						if c2, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr); err == nil {
							c.Close()
							c = c2
						}
					}
					select {
					case <-ctx.Done():
					case <-time.After(500 * time.Millisecond):
					}
				}
			case 2:
				_, _ = c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
				<-ctx.Done()
			default:
				<-ctx.Done()
			}
		}()
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	o := opened
	mu.Unlock()
	return o, func() { cancel(); wg.Wait() }
}
