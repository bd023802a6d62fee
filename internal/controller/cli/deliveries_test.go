package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// The commands docs/integrations.md shows for the outbox, against a real
// one-node controller whose webhook endpoint is down (503: pending with
// attempts, next attempt and last error), then gone (410: failed, the
// target disabled), then back: enable the target, redeliver, delivered.
func TestDeliveriesCommands(t *testing.T) {
	var mu sync.Mutex
	answer := http.StatusServiceUnavailable
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(answer)
	}))
	defer hook.Close()
	setAnswer := func(code int) {
		mu.Lock()
		answer = code
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: freeAddr(t),
		Plan:   ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notify: notify.Config{AllowPrivate: true, Interval: 20 * time.Millisecond, BackoffBase: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
			RetryFor: time.Hour, Webhooks: []notify.WebhookConfig{{Name: "webhook", URL: hook.URL, Secrets: []string{"s"}}}}})
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
	now := timestamppb.Now()
	inc := &mxv1.Incident{Id: "inc-00000000000000c1-1", Fingerprint: strings.Repeat("c1", 32), Sequence: 1, Revision: 1,
		State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_CRITICAL, Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER,
		Cause: "CERT_NO_PRIVATE_KEY", Subject: "edge02.contoso.com/AB12", Summary: "edge02.contoso.com (site amsterdam): keyless duplicate certificate",
		Hosts: []string{"edge02.contoso.com"}, FirstSeen: now, OpenedAt: now, UpdatedAt: now, LastSeen: now}
	if _, err := n.Store().ProposeIncidents(t.Context(), &mxv1.CorrelateIncidents{Upserts: []*mxv1.Incident{inc}}); err != nil {
		t.Fatal(err)
	}
	server := "http://" + n.HTTPAddr()
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Main(t.Context(), append(args, "--server", server), &out, &errb); code != 0 {
			t.Fatalf("controller %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	wait := func(what string, args []string, re *regexp.Regexp) string {
		t.Helper()
		var out string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if out = run(args...); re.MatchString(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: controller %s printed\n%s", what, strings.Join(args, " "), out)
			}
		}
	}
	id := "webhook/" + notify.EventID(inc.GetId(), 1)
	row := func(status, attempts, next, lastErr string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+incident\.opened\s+` + regexp.QuoteMeta(inc.GetId()) + `\s+` + status + `\s+` + attempts + `\s+` + next + `\s+` + lastErr + `\s*$`)
	}
	const rfc3339 = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	out := wait("pending with a retry scheduled", []string{"deliveries", "list"}, row("PENDING", `[2-9]\d*`, rfc3339, `HTTP 503`))
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "NEXT ATTEMPT") || !strings.Contains(out, "LAST ERROR") {
		t.Errorf("header: %s", out)
	}
	setAnswer(http.StatusGone)
	wait("failed after 410", []string{"deliveries", "list", "--status", "FAILED"}, row("FAILED", `\d+`, `-`, `HTTP 410`))
	wait("target disabled", []string{"deliveries", "targets"}, regexp.MustCompile(`(?m)^webhook\s+yes: 410 Gone\s+[1-9]\d*\s+1\s+HTTP 410\s*$`))
	if out := run("deliveries", "list", "--status", "PENDING"); strings.Contains(out, id) {
		t.Errorf("the failed delivery listed as pending:\n%s", out)
	}
	setAnswer(http.StatusNoContent)
	if out := run("deliveries", "enable", "webhook"); out != "webhook: enabled\n" {
		t.Errorf("enable: %q", out)
	}
	if out := run("deliveries", "redeliver", id); out != id+": PENDING\n" {
		t.Errorf("redeliver: %q", out)
	}
	t.Logf("%s", wait("delivered after redeliver", []string{"deliveries", "list", "--target", "webhook"}, row("DELIVERED", `\d+`, `-`, `\S+`)))
	var out2, errb bytes.Buffer
	if code := Main(t.Context(), []string{"deliveries", "redeliver", id, "--server", server}, &out2, &errb); code == 0 {
		t.Errorf("redelivering a delivered delivery succeeded: %s", out2.String())
	}
}
