package helmtest

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
)

// clearMXProbeEnv keeps the developer's own MXPROBE_* variables out of the
// loader (t.Setenv restores them afterwards).
func clearMXProbeEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MXPROBE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// loadController runs the controller's own loader on the rendered file with
// pod's environment, as `controller run --config` does in the pod.
func loadController(t *testing.T, yamlText string, env map[string]string) config.Controller {
	t.Helper()
	clearMXProbeEnv(t)
	for k, v := range env {
		if strings.HasPrefix(k, "MXPROBE_") {
			t.Setenv(k, v)
		}
	}
	file := filepath.Join(t.TempDir(), "controller.yaml")
	if err := os.WriteFile(file, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	var c config.Controller
	if err := config.Load(config.ControllerKeys(), file, nil, &c); err != nil {
		t.Fatalf("the controller's loader refuses the rendered config: %v\n%s", err, yamlText)
	}
	return c
}

func TestRenderedConfigLoads(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			_, o := mustRender(t, vs.vals)
			sts := controllerSTS(t, o)
			env, err := PodEnv(sts.Spec.Template.Spec.Containers[0], PodName(sts, 0), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := loadController(t, controllerYAML(t, o), env)
			dns := "mx-mxprobe-0.mx-mxprobe-headless.mail.svc.cluster.local"
			if c.NodeID != "mx-mxprobe-0" || c.GRPC.Advertise != dns+":7400" || c.Raft.Advertise != dns+":7402" || c.HTTPAdvertise != dns+":7401" {
				t.Errorf("per-pod identity: node %q grpc %q raft %q http %q", c.NodeID, c.GRPC.Advertise, c.Raft.Advertise, c.HTTPAdvertise)
			}
			if c.BootstrapExpect != vs.replicas || c.Bootstrap || !slices.Equal(c.RetryJoin, retryJoin(vs.replicas)) {
				t.Errorf("formation: bootstrap_expect %d bootstrap %v retry_join %v", c.BootstrapExpect, c.Bootstrap, c.RetryJoin)
			}
			if c.DataDir != "/var/lib/mxprobe" || c.GRPC.Listen != ":7400" || c.HTTP.Listen != ":7401" || c.Raft.Listen != ":7402" {
				t.Errorf("paths/listens: data %q grpc %q http %q raft %q", c.DataDir, c.GRPC.Listen, c.HTTP.Listen, c.Raft.Listen)
			}
			if c.Raft.SnapshotThreshold != 8192 || c.Plan.Interval != time.Minute || c.Log.Format != "json" {
				t.Errorf("values: snapshot_threshold %d plan.interval %v log.format %q", c.Raft.SnapshotThreshold, c.Plan.Interval, c.Log.Format)
			}
			tlsOn := vs.vals["tls"] != nil
			if got := c.TLS.CertFile != "" && c.TLS.KeyFile != "" && c.TLS.CAFile != "" && c.AgentCA.CertFile != "" && c.AgentCA.KeyFile != ""; got != tlsOn || c.Insecure == tlsOn {
				t.Errorf("tls files set %v, insecure %v, want TLS %v: %+v %+v", got, c.Insecure, tlsOn, c.TLS, c.AgentCA)
			}
			if tlsOn {
				checkTLSMount(t, sts, c)
			}
		})
	}
}

// checkTLSMount: the files tls.* names are projected from the Secret.
func checkTLSMount(t *testing.T, sts interface{ GetName() string }, c config.Controller) {
	t.Helper()
	_ = sts
	for _, f := range []string{c.TLS.CertFile, c.TLS.KeyFile, c.TLS.CAFile} {
		if !strings.HasPrefix(f, "/etc/mxprobe/tls/") {
			t.Errorf("tls file %s is not under the projected /etc/mxprobe/tls/", f)
		}
	}
}

func TestExistingSecretIsReferenced(t *testing.T) {
	_, o := mustRender(t, valueSets()[3].vals)
	if len(o.Secrets) != 0 {
		t.Errorf("an existing secret was asked for, the chart still renders %d Secrets", len(o.Secrets))
	}
	want := map[string]string{"tls.crt": "tls/tls.crt", "tls.key": "tls/tls.key", "ca.crt": "tls/ca.crt",
		"agent-ca.crt": "tls/agent-ca.crt", "agent-ca.key": "tls/agent-ca.key"}
	if got := projectedSecret(controllerSTS(t, o).Spec.Template.Spec.Volumes, "mail-cluster-tls"); !mapsEqual(got, want) {
		t.Errorf("projected secret items %v, want %v", got, want)
	}
}

func projectedSecret(vols []corev1.Volume, name string) map[string]string {
	out := map[string]string{}
	for _, v := range vols {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.Secret != nil && s.Secret.Name == name {
				for _, it := range s.Secret.Items {
					out[it.Key] = it.Path
				}
			}
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The generated certificate must be usable by the controller's own mutual TLS
// and be valid for every pod's DNS name.
func TestGeneratedTLSSecret(t *testing.T) {
	_, o := mustRender(t, valueSets()[4].vals)
	if len(o.Secrets) != 1 {
		t.Fatalf("%d Secrets, want the generated one", len(o.Secrets))
	}
	s := o.Secrets[0]
	if got := projectedSecret(controllerSTS(t, o).Spec.Template.Spec.Volumes, s.Name); len(got) != 5 {
		t.Errorf("pods do not mount the generated secret %s: %v", s.Name, got)
	}
	dir := t.TempDir()
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt", "agent-ca.crt", "agent-ca.key"} {
		if len(s.Data[k]) == 0 {
			t.Fatalf("secret has no %s", k)
		}
		if err := os.WriteFile(filepath.Join(dir, k), s.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tlsutil.LoadMutual(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatalf("the controller cannot load the generated certificate: %v", err)
	}
	block, _ := pem.Decode(s.Data["tls.crt"])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsutil.VerifyChain([]*x509.Certificate{cert}, m.Pool); err != nil {
		t.Errorf("certificate not signed by the generated CA: %v", err)
	}
	for i := range 5 { // names hold after scaling to 5
		name := strings.TrimSuffix(retryJoin(5)[i], ":7400")
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("certificate does not cover %s: %v", name, err)
		}
	}
}

func TestAgentDaemonSet(t *testing.T) {
	_, o := mustRender(t, valueSets()[6].vals)
	if len(o.DaemonSets) != 1 {
		t.Fatalf("%d DaemonSets", len(o.DaemonSets))
	}
	ds := o.DaemonSets[0]
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	checkContainerSecurity(t, c)
	if want := []string{"run", "--config", "/etc/mxprobe/agent.yaml"}; !slices.Equal(c.Args, want) {
		t.Errorf("agent args %q", c.Args)
	}
	ro := map[string]bool{}
	for _, m := range c.VolumeMounts {
		ro[m.MountPath] = m.ReadOnly
	}
	for _, p := range []string{"/etc/postfix/certs", "/var/log/mail", "/etc/mxprobe"} {
		if !ro[p] {
			t.Errorf("%s not mounted read-only (mounts %v)", p, ro)
		}
	}
	var agentYAML string
	for _, cm := range o.ConfigMaps {
		if y, ok := cm.Data["agent.yaml"]; ok {
			agentYAML = y
		}
	}
	env, err := PodEnv(c, "ignored", map[string]string{"spec.nodeName": "mta-node-1", "status.hostIP": "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	clearMXProbeEnv(t)
	for k, v := range env {
		if strings.HasPrefix(k, "MXPROBE_") {
			t.Setenv(k, v)
		}
	}
	file := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(file, []byte(agentYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	var a config.Agent
	if err := config.Load(config.AgentKeys(), file, nil, &a); err != nil {
		t.Fatalf("the agent's loader refuses the rendered config: %v\n%s", err, agentYAML)
	}
	if a.AgentID != "mta-node-1" || a.Hostname != "mta-node-1" || a.Site != "amsterdam" || !slices.Equal(a.Roles, []string{"mta"}) {
		t.Errorf("identity: %q %q %q %v", a.AgentID, a.Hostname, a.Site, a.Roles)
	}
	if !slices.Equal(a.Controllers, []string{"mx-mxprobe.mail.svc.cluster.local:7400"}) {
		t.Errorf("controllers %v, want the client Service's gRPC address", a.Controllers)
	}
	if !slices.Equal(a.Probes, []string{"smtp://10.1.2.3:25"}) || !slices.Equal(a.CertStores, []string{"pemdir:/etc/postfix/certs"}) {
		t.Errorf("probes %v cert stores %v", a.Probes, a.CertStores)
	}
	if a.StateDir != "/var/lib/mxprobe-agent" {
		t.Errorf("state_dir %q", a.StateDir)
	}
}

// The schema lists the mxprobe keys a user may set under controller.config and
// agent.config; they must be exactly the loader's keys minus those the chart
// owns, so a renamed or new key fails here instead of in a crash-looping pod.
func TestSchemaKeysMatchLoader(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(ChartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	props := func(path ...string) map[string]any {
		m := schema
		for _, p := range path {
			m = m["properties"].(map[string]any)[p].(map[string]any)
		}
		return m
	}
	cases := []struct {
		name   string
		schema map[string]any
		keys   []config.Key
		owned  []string
	}{
		{"controller.config", props("controller", "config"), config.ControllerKeys(),
			[]string{"node_id", "data_dir", "bootstrap", "bootstrap_expect", "retry_join", "grpc.listen", "grpc.advertise", "grpc.agent_advertise",
				"http.listen", "http_advertise", "raft.listen", "raft.advertise", "tls.cert_file", "tls.key_file", "tls.ca_file",
				"insecure", "agent_ca.cert_file", "agent_ca.key_file", "auth.bootstrap_token",
				// Secrets: from a Secret through MXPROBE_* env, never the ConfigMap.
				"notify.webhook.secrets", "notify.pagerduty.routing_key", "notify.servicenow.password"}},
		{"agent.config", props("agent", "config"), config.AgentKeys(),
			[]string{"agent_id", "hostname", "site", "roles", "state_dir", "probe", "insecure", "controller_ca_file"}},
	}
	for _, tc := range cases {
		var want []string
		for _, k := range tc.keys {
			if !slices.Contains(tc.owned, k.Name) {
				want = append(want, k.Name)
			}
		}
		got := leafKeys(tc.schema, "")
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema allows %v\nloader has %v", tc.name, got, want)
		}
	}
}

func leafKeys(s map[string]any, prefix string) []string {
	var out []string
	for k, v := range s["properties"].(map[string]any) {
		sub := v.(map[string]any)
		if sub["type"] == "object" && sub["properties"] != nil {
			out = append(out, leafKeys(sub, prefix+k+".")...)
		} else {
			out = append(out, prefix+k)
		}
	}
	return out
}

// Durations in days, accepted by the loader, pass the schema too and reach
// the controller as days.
func TestSchemaAcceptsDays(t *testing.T) {
	_, o := mustRender(t, map[string]any{"controller": map[string]any{"config": map[string]any{
		"correlation": map[string]any{"retention": "14d", "reopen_window": "1d12h"}}}})
	sts := controllerSTS(t, o)
	env, err := PodEnv(sts.Spec.Template.Spec.Containers[0], PodName(sts, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := loadController(t, controllerYAML(t, o), env)
	if c.Correlation.Retention != 14*24*time.Hour || c.Correlation.ReopenWindow != 36*time.Hour {
		t.Fatalf("retention %v reopen_window %v, want 336h and 36h", c.Correlation.Retention, c.Correlation.ReopenWindow)
	}
}

func TestSchemaRejectsWrongValues(t *testing.T) {
	bad := map[string]map[string]any{
		"two replicas (no quorum benefit)": {"controller": map[string]any{"replicas": 2}},
		"replicas as string":               {"controller": map[string]any{"replicas": "3"}},
		"unknown top-level key":            {"replicas": 3},
		"chart-owned key in config":        {"controller": map[string]any{"config": map[string]any{"node_id": "x"}}},
		"agent advertise without a port":   {"controller": map[string]any{"agentAccess": map[string]any{"advertise": "mx.contoso.com"}}},
		"per-pod Service of unknown type":  {"controller": map[string]any{"agentAccess": map[string]any{"perPodService": map[string]any{"type": "External"}}}},
		"unknown mxprobe key":              {"controller": map[string]any{"config": map[string]any{"plan": map[string]any{"intervall": "1m"}}}},
		"bad duration":                     {"controller": map[string]any{"config": map[string]any{"plan": map[string]any{"interval": "one minute"}}}},
		"duration without a unit":          {"controller": map[string]any{"config": map[string]any{"plan": map[string]any{"interval": "60"}}}},
		"bad log level":                    {"controller": map[string]any{"config": map[string]any{"log": map[string]any{"level": "verbose"}}}},
		"bad anti-affinity":                {"controller": map[string]any{"antiAffinity": "maybe"}},
		"unknown agent key":                {"agent": map[string]any{"config": map[string]any{"cert_stores": []any{"pemdir:/x"}}}},
		"relative host path":               {"agent": map[string]any{"hostPaths": []any{map[string]any{"name": "c", "path": "etc/certs"}}}},
	}
	for name, vals := range bad {
		if _, err := Render(vals, nil); err == nil {
			t.Errorf("%s: install accepted %v", name, vals)
		} else if !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: failed, but not by the schema: %v", name, err)
		}
	}
}

// TestAgentDaemonSetEnrollsWithTLS: with tls.enabled the DaemonSet's agents
// verify controllers with the cluster CA alone (the TLS Secret's agent CA
// key is not projected into them), enroll with the join token Secret, and
// the rendered configuration loads with TLS on.
func TestAgentDaemonSetEnrollsWithTLS(t *testing.T) {
	_, o := mustRender(t, valueSets()[7].vals)
	if len(o.DaemonSets) != 1 {
		t.Fatalf("%d DaemonSets", len(o.DaemonSets))
	}
	pod := o.DaemonSets[0].Spec.Template.Spec
	c := pod.Containers[0]
	var caMount string
	for _, m := range c.VolumeMounts {
		if m.Name == "controller-ca" {
			caMount = m.MountPath
			if !m.ReadOnly {
				t.Error("controller CA mounted writable")
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.Name != "controller-ca" {
			continue
		}
		if v.Secret == nil || v.Secret.SecretName != "mx-mxprobe-tls" || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "ca.crt" {
			t.Fatalf("controller-ca volume %+v: want only ca.crt of the TLS Secret", v.VolumeSource)
		}
	}
	var join bool
	for _, e := range c.Env {
		if e.Name == "MXPROBE_JOIN_TOKEN" {
			join = e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == "mxprobe-agent-join" && e.ValueFrom.SecretKeyRef.Key == "token" && e.Value == ""
		}
	}
	if !join {
		t.Errorf("MXPROBE_JOIN_TOKEN not taken from the join token Secret: %+v", c.Env)
	}
	var agentYAML string
	for _, cm := range o.ConfigMaps {
		if y, ok := cm.Data["agent.yaml"]; ok {
			agentYAML = y
		}
	}
	clearMXProbeEnv(t)
	t.Setenv("MXPROBE_AGENT_ID", "mta-node-1")
	file := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(file, []byte(agentYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	var a config.Agent
	if err := config.Load(config.AgentKeys(), file, nil, &a); err != nil {
		t.Fatalf("the agent's loader refuses the rendered config: %v\n%s", err, agentYAML)
	}
	if a.Insecure || caMount == "" || a.ControllerCAFile != caMount+"/ca.crt" {
		t.Errorf("insecure %v, controller_ca_file %q, CA mounted at %q", a.Insecure, a.ControllerCAFile, caMount)
	}
}
