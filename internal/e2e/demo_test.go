package e2e

import (
	"strings"
	"testing"
)

// TestDemoOnce runs the README's main command (with free ports and --once):
// it must find the seed case and open incidents without anything installed.
func TestDemoOnce(t *testing.T) {
	out, err := run(t, nil, "controller", "demo", "--once", "--interval", "2s",
		"--grpc-listen", freePort(t), "--http-listen", freePort(t), "--raft-listen", freePort(t))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"CERT_NO_PRIVATE_KEY", "SMTP_STARTTLS_NOT_OFFERED", "CERT_EXPIRED", "Incidents (what to fix", "SERVER", "Remove-Item"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
