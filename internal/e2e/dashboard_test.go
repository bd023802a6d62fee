package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardInBrowser: `controller demo` (controller, lab, agents in two
// sites, the seed case on edge02) serves the dashboard; headless Chromium
// loads the overview and the seed incident's page, the DOM shows edge02 and
// the keyless thumbprint, and screenshots go to $MXPROBE_ARTIFACTS (else the
// test's temporary directory). Skips when `chromium` (Debian package
// chromium) is not on PATH.
func TestDashboardInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH (Debian: apt-get install chromium); skipping the real-browser dashboard test")
	}
	artifacts := os.Getenv("MXPROBE_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr, raftAddr := freePort(t), freePort(t), freePort(t)
	demo := start(t, "controller", "demo", "--interval", "1s", "--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr)
	base := "http://" + httpAddr

	keylessRe := regexp.MustCompile(`keyless duplicate ([0-9A-F]{40})`)
	var keyless string
	waitFor(t, 60*time.Second, "the demo to name the keyless thumbprint", func() bool {
		if m := keylessRe.FindStringSubmatch(demo.output()); m != nil {
			keyless = m[1]
			return true
		}
		return false
	})
	var id string
	waitFor(t, 90*time.Second, "the seed incident to open", func() bool {
		code, body := get(base + `/v1/incidents?filter=cause%20%3D%20%22CERT_NO_PRIVATE_KEY%22`)
		if code != 200 {
			return false
		}
		var out struct {
			Incidents []struct{ ID, State string }
		}
		if json.Unmarshal(body, &out) != nil {
			return false
		}
		for _, inc := range out.Incidents {
			if inc.State == "INCIDENT_STATE_OPEN" {
				id = inc.ID
				return true
			}
		}
		return false
	})
	waitFor(t, 30*time.Second, "the demo to print the dashboard URL", func() bool {
		return strings.Contains(demo.output(), "Dashboard: "+base+"/")
	})

	browse := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir()}, args...)
		cmd := exec.CommandContext(ctx, chromium, all...)
		cmd.Dir = t.TempDir()
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr)
		}
		return string(out)
	}
	shot := func(name, url, size string) {
		t.Helper()
		file := filepath.Join(artifacts, name)
		browse("--screenshot="+file, "--window-size="+size, url)
		if st, err := os.Stat(file); err != nil || st.Size() < 10000 {
			t.Errorf("screenshot %s missing or empty: %v", file, err)
			return
		}
		t.Logf("screenshot: %s", file)
	}

	dom := browse("--dump-dom", base+"/")
	for _, want := range []string{"INSECURE MODE", "edge02.amsterdam.contoso.test", keyless, "/incidents/" + id, `id="live"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("overview DOM lacks %q", want)
		}
	}
	dom = browse("--dump-dom", base+"/incidents/"+id)
	for _, want := range []string{"edge02.amsterdam.contoso.test", keyless, "CERT_NO_PRIVATE_KEY", "Remove-Item", "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("incident DOM lacks %q", want)
		}
	}
	if !strings.Contains(dom, `data-copy="ps-code"`) || strings.Contains(dom, `data-copy="ps-code" hidden`) {
		t.Error("the copy button stayed hidden: app.js did not run")
	}
	dom = browse("--dump-dom", base+"/agents/edge02")
	for _, want := range []string{"Agent edge02", "smtp_probe", "FAIL", "Changes"} {
		if !strings.Contains(dom, want) {
			t.Errorf("agent page DOM lacks %q", want)
		}
	}
	shot("dashboard-overview.png", base+"/", "1400,1000")
	shot("dashboard-agent.png", base+"/agents/edge02", "1400,900")
	shot("dashboard-incident.png", base+"/incidents/"+id, "1400,1600")
	shot("dashboard-certificates.png", base+"/certificates", "1400,1200")
	demo.stop(t)
}
