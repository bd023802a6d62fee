package helmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func unstructured(o *Objects, kind string) map[string]any {
	for _, u := range o.Unstructured {
		if u["kind"] == kind {
			return u
		}
	}
	return nil
}

func dig(m any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, _ := m.(map[string]any)
			m = mm[k]
		case int:
			l, _ := m.([]any)
			if k >= len(l) {
				return nil
			}
			m = l[k]
		}
	}
	return m
}

// With tls.enabled the HTTP port speaks only HTTPS: the probes and the
// ServiceMonitor follow (plain HTTP gets 400, so pods would never be ready).
func TestProbesAndServiceMonitorFollowTLS(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		_, o := mustRender(t, map[string]any{"tls": map[string]any{"enabled": tlsOn}, "serviceMonitor": map[string]any{"enabled": true,
			"bearerTokenSecret": map[string]any{"name": "mxprobe-metrics", "key": "token"}}})
		c := controllerSTS(t, o).Spec.Template.Spec.Containers[0]
		want := corev1.URISchemeHTTP
		if tlsOn {
			want = corev1.URISchemeHTTPS
		}
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != want {
				t.Errorf("tls %v: %s probe %+v, want scheme %s", tlsOn, name, p, want)
			}
		}
		sm := unstructured(o, "ServiceMonitor")
		if sm == nil {
			t.Fatal("no ServiceMonitor")
		}
		ep := dig(sm, "spec", "endpoints", 0)
		scheme, _ := dig(ep, "scheme").(string)
		if tlsOn {
			if scheme != "https" || dig(ep, "tlsConfig", "ca", "secret", "key") != "ca.crt" || dig(ep, "tlsConfig", "ca", "secret", "name") != "mx-mxprobe-tls" ||
				dig(ep, "tlsConfig", "serverName") != "mx-mxprobe.mail.svc" {
				t.Errorf("ServiceMonitor with TLS: %v", ep)
			}
		} else if scheme != "http" || dig(ep, "tlsConfig") != nil {
			t.Errorf("ServiceMonitor without TLS: %v", ep)
		}
		if dig(ep, "authorization", "credentials", "name") != "mxprobe-metrics" || dig(ep, "authorization", "type") != "Bearer" {
			t.Errorf("ServiceMonitor token: %v", dig(ep, "authorization"))
		}
	}
}

// Secrets come from existing Secret references as the environment
// variables of their settings, never through the ConfigMap.
func TestSecretsFromExistingSecrets(t *testing.T) {
	_, o := mustRender(t, map[string]any{"tls": map[string]any{"enabled": true},
		"controller": map[string]any{"bootstrapTokenSecret": map[string]any{"name": "mxprobe-bootstrap", "key": "token"},
			"config": map[string]any{"notify": map[string]any{"pagerduty": map[string]any{"url": "https://events.pagerduty.com/v2/enqueue"}}}},
		"notify": map[string]any{"pagerdutyRoutingKeySecret": map[string]any{"name": "mxprobe-notify", "key": "pd"},
			"servicenowPasswordSecret": map[string]any{"name": "mxprobe-notify", "key": "sn"}}})
	env := map[string]*corev1.EnvVarSource{}
	for _, e := range controllerSTS(t, o).Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.ValueFrom
	}
	for name, want := range map[string][2]string{
		"MXPROBE_AUTH_BOOTSTRAP_TOKEN":         {"mxprobe-bootstrap", "token"},
		"MXPROBE_NOTIFY_PAGERDUTY_ROUTING_KEY": {"mxprobe-notify", "pd"},
		"MXPROBE_NOTIFY_SERVICENOW_PASSWORD":   {"mxprobe-notify", "sn"},
	} {
		ref := env[name]
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != want[0] || ref.SecretKeyRef.Key != want[1] {
			t.Errorf("%s: %+v, want secretKeyRef %v", name, ref, want)
		}
	}
	if _, ok := env["MXPROBE_NOTIFY_WEBHOOK_SECRETS"]; ok {
		t.Error("an unset reference produced an environment variable")
	}
	for _, cm := range o.ConfigMaps {
		for _, v := range cm.Data {
			if strings.Contains(v, "mxprobe-bootstrap") || strings.Contains(v, "routing_key") {
				t.Errorf("ConfigMap %s carries a secret reference:\n%s", cm.Name, v)
			}
		}
	}
}

// The PrometheusRule is off by default; on, its rules pass promtool.
func TestPrometheusRule(t *testing.T) {
	_, o := mustRender(t, map[string]any{})
	if unstructured(o, "PrometheusRule") != nil {
		t.Fatal("PrometheusRule rendered by default")
	}
	_, o = mustRender(t, map[string]any{"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}}})
	pr := unstructured(o, "PrometheusRule")
	if pr == nil || dig(pr, "metadata", "labels", "release") != "kube-prometheus" {
		t.Fatalf("PrometheusRule: %v", pr)
	}
	groups, _ := dig(pr, "spec", "groups").([]any)
	if len(groups) < 3 {
		t.Fatalf("%d rule groups", len(groups))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (scripts/test.sh installs Debian's prometheus)")
	}
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules on the rendered PrometheusRule: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// The chart's rules against promtool's rule unit tests
// (testdata/prometheus-rules.test.yaml): every rule fires only after its
// `for:`, on the labels the exporter exports, with the annotations people
// read, and stays quiet on healthy series.
func TestPrometheusRulesUnitTests(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (scripts/test.sh installs Debian's prometheus)")
	}
	rules, err := os.ReadFile(filepath.Join(ChartDir(), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every alert of the chart has a unit test.
	for _, m := range regexp.MustCompile(`(?m)^\s+- alert: (\S+)$`).FindAllSubmatch(rules, -1) {
		if !bytes.Contains(tests, []byte("alertname: "+string(m[1])+"\n")) {
			t.Errorf("alert %s has no promtool unit test", m[1])
		}
	}
	cmd := exec.Command(promtool, "test", "rules", "prometheus-rules.test.yaml")
	cmd.Dir = "testdata"
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
