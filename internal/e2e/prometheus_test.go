package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

// rulesFile is the chart's alerting rules (also usable with rule_files).
const rulesFile = "../../deploy/helm/mxprobe/files/prometheus-rules.yaml"

// startExternal runs a program from PATH like start runs ours.
func startExternal(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (scripts/test.sh installs it): %v", name, err)
	}
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, p.output())
		}
	})
	return p
}

// TestFleetMetricsInPrometheus: a real controller with two real agents (one
// probing a good and an expired lab SMTP server, one scanning a store with
// a keyless duplicate certificate); its /metrics passes `promtool check
// metrics`, the chart's rules pass `promtool check rules`, and a real
// Prometheus scraping the controller fires the alerts users write on them.
func TestFleetMetricsInPrometheus(t *testing.T) {
	for _, tool := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/test.sh installs Debian's prometheus): %v", tool, err)
		}
	}
	ca, err := lab.NewCA("e2e lab CA")
	if err != nil {
		t.Fatal(err)
	}
	good, err := lab.Start(t.Context(), lab.Good, lab.ServerOptions{Hostname: "mx.fabrikam.test", CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	expired, err := lab.Start(t.Context(), lab.Expired, lab.ServerOptions{Hostname: "mx.partner.test", CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer expired.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	seed, err := lab.WriteSeedStore(filepath.Join(dir, "edge02-store"), ca, "edge02.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr, raftAddr := freePort(t), freePort(t), freePort(t)
	start(t, "controller", "run", "--insecure", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"), "--bootstrap",
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", raftAddr, "--plan-interval", "1s", "--plan-jitter", "100ms",
		"--correlation-open-after-observations", "2", "--correlation-interval", "100ms")
	start(t, "agent", "run", "--insecure", "--agent-id", "edge01", "--site", "amsterdam", "--hostname", "edge01.contoso.test",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent1"),
		"--probe", "smtp://"+good.Addr(), "--probe", "smtp://"+expired.Addr(), "--expect-name", "mx.fabrikam.test", "--ca-file", caFile)
	start(t, "agent", "run", "--insecure", "--agent-id", "edge02", "--site", "berlin", "--hostname", "edge02.contoso.test",
		"--controllers", grpcAddr, "--state-dir", filepath.Join(dir, "agent2"), "--cert-store", "pemdir:"+seed.Dir)

	metricsURL := "http://" + httpAddr + "/metrics"
	var scrape []byte
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^mxprobe_probe_success\{agent="edge01",host="edge01.contoso.test",site="amsterdam",target="smtp://` + regexp.QuoteMeta(good.Addr()) + `"\} 1$`),
		regexp.MustCompile(`(?m)^mxprobe_probe_success\{[^}]*target="smtp://` + regexp.QuoteMeta(expired.Addr()) + `"\} 0$`),
		regexp.MustCompile(`(?m)^mxprobe_probe_tls_version_info\{[^}]*target="smtp://` + regexp.QuoteMeta(good.Addr()) + `",version="TLS 1\.3"\} 1$`),
		regexp.MustCompile(`(?m)^mxprobe_certificate_not_after_timestamp_seconds\{[^}]*thumbprint="` + expired.Certificate().Thumbprint() + `"\} `),
		regexp.MustCompile(`(?m)^mxprobe_certificate_private_key_present\{[^}]*site="berlin",store="[^"]*",subject_cn="edge02.contoso.test",thumbprint="` + seed.KeylessDuplicate.Thumbprint + `"\} 0$`),
		regexp.MustCompile(`(?m)^mxprobe_certificate_private_key_present\{[^}]*thumbprint="` + seed.Good.Thumbprint + `"\} 1$`),
		regexp.MustCompile(`(?m)^mxprobe_certificate_duplicate_identity\{host="edge02.contoso.test",[^}]*\} 2$`),
		regexp.MustCompile(`(?m)^mxprobe_findings_open\{code="CERT_EXPIRED",host="edge01.contoso.test",severity="critical",site="amsterdam"\} [1-9]`),
		regexp.MustCompile(`(?m)^mxprobe_incidents_open\{scope="remote_target",severity="critical",state="open"\} 1$`),
		regexp.MustCompile(`(?m)^mxprobe_agent_last_seen_timestamp_seconds\{agent="edge02",host="edge02.contoso.test",site="berlin"\} 1\.`),
		regexp.MustCompile(`(?m)^mxprobe_build_info\{goversion="go[^"]+",version="[^"]+"\} 1$`),
	}
	missing := want
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline) && len(missing) > 0; time.Sleep(200 * time.Millisecond) {
		code, b := get(metricsURL)
		if code != 200 {
			continue
		}
		scrape, missing = b, nil
		for _, re := range want {
			if !re.Match(b) {
				missing = append(missing, re)
			}
		}
	}
	if len(missing) > 0 {
		var fleet []string
		for _, l := range strings.Split(string(scrape), "\n") {
			if strings.HasPrefix(l, "mxprobe_") && !strings.HasPrefix(l, "mxprobe_raft") {
				fleet = append(fleet, l)
			}
		}
		t.Fatalf("/metrics lacks %q\nfleet series:\n%s", missing, strings.Join(fleet, "\n"))
	}
	// promtool's linter on a real scrape (names, units, help, types).
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = bytes.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if out, err := exec.Command("promtool", "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	// The same rules with their `for:` durations at zero, so they fire
	// within the test; the expressions are the chart's.
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+for:) .*$`).ReplaceAll(rules, []byte("$1 0s"))
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: mxprobe
    static_configs:
      - targets: [%q]
  # The same controller again, as a second node: every node exports the
  # same fleet series (the chart's ServiceMonitor scrapes each pod), and
  # the rules must still make one alert per object.
  - job_name: mxprobe-node2
    static_configs:
      - targets: [%q]
`, rulesPath, httpAddr, httpAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startExternal(t, "prometheus", "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")

	wantAlerts := map[string]func(map[string]string) bool{
		"MxprobeCertificateExpiresSoon": func(l map[string]string) bool {
			return l["thumbprint"] == expired.Certificate().Thumbprint() && l["subject_cn"] == "mx.partner.test"
		},
		"MxprobeProbeFailing": func(l map[string]string) bool {
			return l["target"] == "smtp://"+expired.Addr() && l["agent"] == "edge01"
		},
		"MxprobeCertificateWithoutPrivateKey": func(l map[string]string) bool {
			return l["thumbprint"] == seed.KeylessDuplicate.Thumbprint && l["host"] == "edge02.contoso.test"
		},
		"MxprobeCertificateDuplicateIdentity": func(l map[string]string) bool { return l["host"] == "edge02.contoso.test" },
		"MxprobeCriticalIncident":             func(l map[string]string) bool { return l["scope"] == "remote_target" },
	}
	var firing []promAlert
	waitFor(t, 120*time.Second, "the alerts firing in Prometheus", func() bool {
		code, b := get("http://" + promAddr + "/api/v1/alerts")
		if code != 200 {
			return false
		}
		var resp struct {
			Data struct {
				Alerts []promAlert `json:"alerts"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &resp) != nil {
			return false
		}
		firing = resp.Data.Alerts
		for name, match := range wantAlerts {
			if !slices.ContainsFunc(firing, func(a promAlert) bool {
				return a.State == "firing" && a.Labels["alertname"] == name && match(a.Labels)
			}) {
				return false
			}
		}
		return true
	})
	// One alert per object although two nodes export it, and counts not
	// doubled.
	for name, match := range wantAlerts {
		n := 0
		for _, a := range firing {
			if a.State == "firing" && a.Labels["alertname"] == name && match(a.Labels) {
				n++
				if a.Labels["job"] != "" || a.Labels["instance"] != "" {
					t.Errorf("%s carries the scraped node's labels %v", name, a.Labels)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s fires %d times for one object scraped from two nodes", name, n)
		}
	}
	for _, a := range firing {
		if a.Labels["alertname"] == "MxprobeCriticalIncident" && a.Labels["scope"] == "remote_target" &&
			!strings.HasPrefix(a.Annotations["summary"], "1 critical remote_target incident(s)") {
			t.Errorf("one remote-target incident counted as %q", a.Annotations["summary"])
		}
	}
	checkGrafanaDashboard(t, "http://"+promAddr)
	// Nothing fires for what is healthy.
	for _, a := range firing {
		if a.Labels["target"] == "smtp://"+good.Addr() || a.Labels["thumbprint"] == seed.Good.Thumbprint && a.Labels["alertname"] != "MxprobeCertificateDuplicateIdentity" {
			t.Errorf("alert on a healthy object: %v", a.Labels)
		}
		if a.State == "firing" {
			t.Logf("firing: %s %s", a.Labels["alertname"], strings.TrimSpace(a.Annotations["summary"]))
		}
	}
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// dashboardFile is the Grafana dashboard on the fleet metrics.
const dashboardFile = "../../deploy/grafana/mxprobe-fleet.json"

// checkGrafanaDashboard runs every panel's query (Grafana's variables
// filled in as "All") against the real Prometheus: each must be valid
// PromQL, and the panels on what this fleet has must show data.
func checkGrafanaDashboard(t *testing.T, prom string) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: %v (uid %q, %d panels)", err, dash.UID, len(dash.Panels))
	}
	withData := map[string]bool{"Open incidents by severity": true, "Failing probes": true, "Certificates expiring within 30 days": true,
		"Negotiated TLS versions": true, "Certificates without their private key": true, "Duplicate certificate identities": true}
	fill := strings.NewReplacer("$site", ".*", "$__rate_interval", "5m")
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := fill.Replace(tg.Expr)
			var data bool
			waitFor(t, 30*time.Second, "panel "+p.Title, func() bool {
				code, body := get(prom + "/api/v1/query?query=" + urlQuery(expr))
				var r struct {
					Status string `json:"status"`
					Error  string `json:"error"`
					Data   struct {
						Result []json.RawMessage `json:"result"`
					} `json:"data"`
				}
				if code == 400 || json.Unmarshal(body, &r) == nil && r.Status == "error" {
					t.Fatalf("panel %q: %s: %s", p.Title, expr, body)
				}
				data = len(r.Data.Result) > 0
				return code == 200 && (data || !withData[p.Title])
			})
		}
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }
