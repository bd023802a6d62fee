package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The commands docs/outside-in.md shows: import (.eml, .json; a repeat is
// skipped) and list, against a real one-node controller.
func TestTLSRPTImportAndList(t *testing.T) {
	clock := func() time.Time { return time.Date(2024, 9, 4, 12, 0, 0, 0, time.UTC) }
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true, CommandClock: clock,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: freeAddr(t),
		Plan: ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(30 * time.Second); !n.Store().LeaderReady(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node never led")
		}
	}
	server := "http://" + n.HTTPAddr()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(t.Context(), args, &out, &errb)
		return code, out.String() + errb.String()
	}
	dir := "../../tlsrpt/testdata/parsedmarc/"
	code, out := run("tlsrpt", "import", "--server", server, dir+"google.com_smtp_tls_report.eml", dir+"mail.ru.json")
	if code != 0 || !strings.Contains(out, "imported report 2024-09-03T00:00:00Z_cardinalhealth.ca from Google Inc. for cardinalhealth.ca") ||
		!strings.Contains(out, "from Mail.ru for example.com") {
		t.Fatalf("import: %d %s", code, out)
	}
	// (mail.ru.json ended in February: at this clock it is past the 90-day
	// retention and pruned at once; the September report stays.)
	if code, out = run("tlsrpt", "import", "--server", server, dir+"google.com_smtp_tls_report.eml"); code != 0 || !strings.Contains(out, "already stored (skipped)") {
		t.Fatalf("re-import: %d %s", code, out)
	}
	if code, out = run("tlsrpt", "import", "--server", server, dir+"README.md"); code == 0 {
		t.Fatalf("a non-report imported: %s", out)
	}
	code, out = run("tlsrpt", "list", "--server", server, "--domain", "cardinalhealth.ca")
	if code != 0 || !strings.Contains(out, "cardinalhealth.ca") || !strings.Contains(out, "Google Inc.") || strings.Contains(out, "Mail.ru") {
		t.Fatalf("list: %d %s", code, out)
	}
}
