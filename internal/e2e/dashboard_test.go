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

// TestDashboardInBrowser: `mxdemo` (controller, lab, agents in two
// sites, the seed case on edge02) serves the dashboard; headless Chromium
// loads the overview, the seed incident's page and the trend, the DOM shows
// edge02 and the keyless thumbprint; then Chromium acknowledges the incident
// and attaches a ticket through the page's forms, and the API shows both;
// last, Chromium uploads the demo's renewed certificate on the Renewal page
// and the page predicts the break on edge02 with its plan.
// Screenshots go to $MXPROBE_ARTIFACTS (else the test's temporary
// directory). Skips when `chromium` (Debian package chromium) is not on PATH.
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
	demo := start(t, "mxdemo", "--interval", "1s", "--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr)
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
	dom = browse("--dump-dom", base+"/trend")
	for _, want := range []string{"Unresolved incidents: ", "Failing checks: ", `class="line trend-inc"`, `class="line trend-fail"`, "Per day (UTC)"} {
		if !strings.Contains(dom, want) {
			t.Errorf("trend DOM lacks %q", want)
		}
	}
	// The demo's generated TLS-RPT report, per domain and sender.
	dom = browse("--dump-dom", base+"/reports")
	for _, want := range []string{"TLS-RPT reports", "Per domain and sender", `href="/reports?domain=contoso.test"`, "Microsoft Corporation",
		"certificate-expired=412", "edge01.amsterdam.contoso.test"} {
		if !strings.Contains(dom, want) {
			t.Errorf("TLS-RPT page DOM lacks %q", want)
		}
	}
	shot("dashboard-overview.png", base+"/", "1400,1000")
	shot("dashboard-reports.png", base+"/reports", "1400,900")
	shot("dashboard-agent.png", base+"/agents/edge02", "1400,900")
	shot("dashboard-incident.png", base+"/incidents/"+id, "1400,1600")
	shot("dashboard-certificates.png", base+"/certificates", "1400,1200")
	shot("dashboard-trend.png", base+"/trend", "1400,1000")

	// Acknowledge and attach a ticket the way a person does: type into the
	// incident page's forms and press the buttons (Chromium over the
	// DevTools protocol); the API then shows what the browser did.
	b := startBrowser(t, chromium, "1400,1600")
	page := base + "/incidents/" + id
	b.navigate(page)
	if v, _ := b.eval(`!!document.querySelector('button[value="acknowledge"]')`); v != true {
		t.Fatal("the incident page offers no Acknowledge button")
	}
	b.eval(`document.getElementById('actor-state').value = 'Dana (browser)';
		document.getElementById('comment').value = 'checking edge02 from the dashboard';
		document.querySelector('button[value="acknowledge"]').click(); true`)
	b.waitJS(`location.search === "?done=acknowledged" && document.readyState === "complete" && document.body.innerText.includes("Acknowledged: the incident stays open")`)
	b.eval(`document.getElementById('actor-refs').value = 'Dana (browser)';
		document.getElementById('ref').value = 'INC0012345';
		document.querySelector('#refs-form button[type="submit"]').click(); true`)
	b.waitJS(`location.search === "?done=refs" && document.readyState === "complete"`)
	b.screenshot(filepath.Join(artifacts, "dashboard-incident-acknowledged.png"))
	code, body := get(base + "/v1/incidents/" + id)
	var got struct {
		Incident struct {
			State        string
			ExternalRefs map[string]string
			Timeline     []struct{ Kind, Actor, Comment string }
		}
	}
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("GET incident: %d %s", code, body)
	}
	acked := false
	for _, e := range got.Incident.Timeline {
		if e.Kind == "acknowledged" && e.Actor == "Dana (browser)" && e.Comment == "checking edge02 from the dashboard" {
			acked = true
		}
	}
	if got.Incident.State != "INCIDENT_STATE_ACKNOWLEDGED" || !acked || got.Incident.ExternalRefs["servicenow"] != "INC0012345" {
		t.Fatalf("after the browser's actions the API shows %+v", got.Incident)
	}
	if v, _ := b.eval(`document.body.innerText.includes("INC0012345") && document.body.innerText.includes("ACKNOWLEDGED")`); v != true {
		t.Error("the incident page does not show the acknowledged state and the ticket")
	}

	// The renewal plan: the demo's renewal of edge02 from another CA,
	// uploaded as a person does (the public .cer chosen in the file input,
	// the form submitted); the page predicts the break on edge02 and shows
	// its plan. The PEM with the key goes through controller preflight,
	// which exits 2.
	renewalRe := regexp.MustCompile(`controller preflight --server (\S+) --new-cert (\S+); dashboard \S+/preflight with (\S+\.cer)\)`)
	var m []string
	waitFor(t, 60*time.Second, "the demo to print the fleet pre-flight", func() bool {
		m = renewalRe.FindStringSubmatch(demo.output())
		return m != nil
	})
	out, err := run(t, nil, "controller", "preflight", "--server", m[1], "--new-cert", m[2], "--plan")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(out, "Verdict: BREAKS: on edge02") || !strings.Contains(out, "Renewal plan for edge02.amsterdam.contoso.test") {
		t.Errorf("controller preflight: %v\n%s", err, out)
	}
	b.navigate(base + "/preflight")
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": `document.getElementById('pf-cert')`})
	if err != nil {
		t.Fatal(err)
	}
	var input struct {
		Result struct {
			ObjectID string `json:"objectId"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &input); err != nil || input.Result.ObjectID == "" {
		t.Fatalf("the renewal page has no file input: %s %v", res, err)
	}
	if _, err := b.call("DOM.setFileInputFiles", map[string]any{"files": []string{m[3]}, "objectId": input.Result.ObjectID}); err != nil {
		t.Fatal(err)
	}
	b.eval(`document.querySelector('form.preflight button[type="submit"]').click(); true`)
	b.waitJS(`document.readyState === "complete" && !!document.getElementById('pf-verdict')`)
	for _, want := range []string{"BREAKS", "on edge02", "hybrid-edge-identity", "CONNECTOR_CERT_NOT_FOUND", "Renewal plan for edge02.amsterdam.contoso.test", "Rollout: not-imported"} {
		if v, _ := b.eval(`document.body.innerText.includes(` + jsString(want) + `)`); v != true {
			t.Errorf("the renewal result lacks %q", want)
		}
	}
	if v, _ := b.eval(`!!document.querySelector('.pf-plan[open] button[data-copy]:not([hidden])')`); v != true {
		t.Error("edge02's plan is not open with its copy buttons")
	}
	b.screenshot(filepath.Join(artifacts, "dashboard-preflight.png"))
	demo.stop(t)
}
