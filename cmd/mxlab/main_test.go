package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeExpired: mxlab serves the expired scenario, writes its CA, and a
// STARTTLS client trusting that CA sees exactly "expired".
func TestServeExpired(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--hostname", "smtp.lab.test", "--ca-out", caFile, "--serve", "expired=" + addr}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for run(ctx, []string{"--check", caFile}, &bytes.Buffer{}, &bytes.Buffer{}) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("CA never written: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no CA in --ca-out")
	}

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	_ = tp.PrintfLine("EHLO test.example")
	if _, msg, err := tp.ReadResponse(250); err != nil || !strings.Contains(msg, "STARTTLS") {
		t.Fatalf("EHLO: %q %v", msg, err)
	}
	_ = tp.PrintfLine("STARTTLS")
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "smtp.lab.test", RootCAs: roots})
	err = tc.Handshake()
	var ce x509.CertificateInvalidError
	if !errors.As(err, &ce) || ce.Reason != x509.Expired {
		t.Fatalf("handshake: want an expired certificate, got %v", err)
	}
}

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--serve", "nope=:1"}, &out, &errb); code != 2 {
		t.Errorf("unknown scenario: exit %d", code)
	}
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no --serve: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"--list"}, &out, &errb); code != 0 {
		t.Fatalf("--list: exit %d", code)
	}
	n := 0
	for sc := bufio.NewScanner(&out); sc.Scan(); n++ {
	}
	if n != len(lab.Scenarios()) {
		t.Errorf("--list printed %d scenarios, want %d", n, len(lab.Scenarios()))
	}
	if code := run(context.Background(), []string{"--check", filepath.Join(t.TempDir(), "missing")}, &out, &errb); code != 1 {
		t.Errorf("--check missing file: exit %d", code)
	}
}

// TestLoadCA: --ca-cert/--ca-key round-trip a lab CA that can issue.
func TestLoadCA(t *testing.T) {
	ca, err := lab.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(lab.IssueOptions{CommonName: "x", IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	key, err := is.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if err := os.WriteFile(cf, is.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, key, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadCA(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.Issue(lab.IssueOptions{CommonName: "leaf"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCA(cf, ""); err == nil {
		t.Error("--ca-cert without --ca-key accepted")
	}
}
