package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRunReturnsTheFirstFailureAndShutsDown: a part of the node that cannot
// serve (here the HTTP server, its listener closed under it) ends Run with
// that error, and the node is shut down: its data directory can be opened
// again. A listener whose port is taken (here the TLS-RPT receiver's) fails
// Start already, naming the setting, and releases the data directory too.
func TestRunReturnsTheFirstFailureAndShutsDown(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := Config{NodeID: "n1", DataDir: dir, Bootstrap: true, Insecure: true, GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		RaftListen: freePort(t), TLSRPTListen: taken.Addr().String(), Logger: quiet(), DataDirLockTimeout: time.Second}
	var le *ListenError
	if _, err := Start(t.Context(), cfg); !errors.As(err, &le) || le.Setting != "tlsrpt.listen" || !le.InUse() {
		t.Fatalf("Start with the TLS-RPT port taken = %v, want a ListenError for tlsrpt.listen", err)
	}
	cfg.TLSRPTListen = "127.0.0.1:0"
	n, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("data directory still held after Start failed: %v", err)
	}
	if n.TLSRPTAddr() == "" {
		t.Fatal("TLSRPTAddr empty after Start")
	}
	n.httpLn.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := n.Run(ctx); err == nil || !strings.Contains(err.Error(), "node: http") {
		t.Fatalf("Run = %v, want the HTTP server's error", err)
	}
	cfg.TLSRPTListen, cfg.RaftListen = "", freePort(t)
	again, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("data directory still held after Run returned: %v", err)
	}
	rctx, rcancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- again.Run(rctx) }()
	rcancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}
