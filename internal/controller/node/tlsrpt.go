package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mxprobe/mxprobe/internal/controller/api"
)

// serveTLSRPT starts the TLS-RPT receiver on its own listener (TLSRPTListen;
// none when empty): POST /v1/tlsrpt only, unauthenticated and bounded
// (api.NewTLSRPTHandler), so it can face the Internet without the API. With
// cluster TLS it speaks HTTPS with the node's certificate; senders need a
// publicly trusted one, so production puts a reverse proxy with the rua
// host's certificate in front. Reports received by a follower are handed to
// the leader (ClusterService.ForwardTLSReports). stop shuts it down.
func (n *Node) serveTLSRPT(g *errgroup.Group) (stop func(), err error) {
	if n.tlsrptLn == nil {
		return func() {}, nil
	}
	ln := n.tlsrptLn
	if n.cfg.TLS != nil {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: n.cfg.TLS.Server.Certificates})
	}
	srv := &http.Server{
		Handler:           api.NewTLSRPTHandler(api.TLSRPTConfig{Submit: n.cluster.SubmitTLSReport}),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
	}
	done := make(chan struct{})
	g.Go(func() error {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("node: tlsrpt: %w", err)
		}
		return nil
	})
	n.log.Info("TLS-RPT receiver serving (unauthenticated, POST /v1/tlsrpt only)", "addr", n.TLSRPTAddr())
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}

// TLSRPTAddr is the TLS-RPT receiver's bound address ("" when off); it is
// bound by Start.
func (n *Node) TLSRPTAddr() string {
	if n.tlsrptLn == nil {
		return ""
	}
	return n.tlsrptLn.Addr().String()
}
