package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog/evtxtest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// An exported Application log handed over by an admin: agent check
// --event-log-file reads it on any OS and reports the events within the
// window before its newest one.
func TestCheckReadsExportedEventLog(t *testing.T) {
	dir := tempdir.New(t)
	path := filepath.Join(dir, "Application.evtx")
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC) // exported long ago: the window counts back from its newest event
	if err := evtxtest.Write(path, []eventlog.Event{
		{Provider: eventlog.ProviderTransport, Channel: "Application", ID: 12016, Time: t0.Add(-72 * time.Hour), Computer: "E19", Data: []string{"old.contoso.com"}},
		{Provider: eventlog.ProviderFrontEndTransport, Channel: "Application", ID: 12014, Time: t0, Computer: "E19",
			Data: []string{"mail.contoso.com", "Default Frontend E19", "mail.contoso.com"}},
		{Provider: "MSExchangeIS", Channel: "Application", ID: 1000, Time: t0, Computer: "E19", Data: []string{"unrelated"}},
	}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "check", "--event-log-file", path, "--event-log-window", "24h", "--format", "json", "--hostname", "E19")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s\n%s", code, stderr, out)
	}
	var fs []jsonFinding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(fs) != 1 || fs[0].Code != "EVENT_STARTTLS_CERT_NOT_FOUND" || fs[0].Subject != "Default Frontend E19" || fs[0].Evidence["domain"] != "mail.contoso.com" {
		t.Fatalf("findings %+v, want only the 12014 inside the window", fs)
	}

	// A file that is not an export is an error, never a clean bill of health.
	bad := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(bad, []byte("Log Name: Application\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "check", "--event-log-file", bad, "--format", "json")
	if code != 1 || !strings.Contains(stderr, "not an EVTX file") {
		t.Fatalf("exit %d stderr %q, want 1 and the reason", code, stderr)
	}
}
