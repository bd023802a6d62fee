package smtpprobe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// BenchmarkProbeLoopback is a full probe (banner, EHLO, STARTTLS, TLS 1.3
// handshake, chain verification, EHLO, QUIT) against a lab Good server.
func BenchmarkProbeLoopback(b *testing.B) {
	s := startLab(b, lab.Good, lab.ServerOptions{})
	opts := labOptions(s)
	b.ReportAllocs()
	for b.Loop() {
		if res := smtpprobe.Probe(context.Background(), s.Addr(), opts); !res.OK() {
			b.Fatalf("probe: %v", res.Err)
		}
	}
}

// BenchmarkBareTLSHandshake is a plain crypto/tls dial and handshake (with
// verification) to a TLS listener serving the same certificate: the
// baseline for the STARTTLS overhead.
func BenchmarkBareTLSHandshake(b *testing.B) {
	s := startLab(b, lab.Good, lab.ServerOptions{})
	addr := serveBareTLS(b, s.Certificate().TLSCertificate())
	cfg := &tls.Config{RootCAs: s.CA().Pool(), ServerName: s.Hostname()}
	b.ReportAllocs()
	for b.Loop() {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// serveBareTLS runs a TLS listener that handshakes and waits for the client
// to hang up; it stops, with all its goroutines, at cleanup.
func serveBareTLS(b *testing.B, cert tls.Certificate) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		b.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					b.Error(err)
				}
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
