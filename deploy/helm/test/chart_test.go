package helmtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chartutil"
)

// valueSet is one `--set`/values file combination the chart must render.
type valueSet struct {
	name     string
	vals     map[string]any
	replicas int
}

func valueSets() []valueSet {
	return []valueSet{
		{"defaults", map[string]any{}, 3},
		{"one replica", map[string]any{"controller": map[string]any{"replicas": 1}}, 1},
		{"five replicas", map[string]any{"controller": map[string]any{"replicas": 5}}, 5},
		{"existing TLS secret", map[string]any{"tls": map[string]any{"enabled": true, "existingSecret": "mail-cluster-tls"}}, 3},
		{"generated TLS", map[string]any{"tls": map[string]any{"enabled": true}}, 3},
		{"ingress", map[string]any{"ingress": map[string]any{"enabled": true, "className": "nginx",
			"tls": []any{map[string]any{"secretName": "mxprobe-web", "hosts": []any{"mxprobe.example.com"}}}}}, 3},
		{"agent daemonset", map[string]any{"agent": map[string]any{"enabled": true, "site": "amsterdam",
			"hostPaths": []any{map[string]any{"name": "certs", "path": "/etc/postfix/certs"}, map[string]any{"name": "logs", "path": "/var/log/mail"}},
			"config":    map[string]any{"cert_store": []any{"pemdir:/etc/postfix/certs"}}}}, 3},
		{"agent daemonset with TLS", map[string]any{"tls": map[string]any{"enabled": true},
			"agent": map[string]any{"enabled": true, "site": "amsterdam", "joinTokenSecret": map[string]any{"name": "mxprobe-agent-join"},
				"hostPaths": []any{map[string]any{"name": "certs", "path": "/etc/postfix/certs"}, map[string]any{"name": "logs", "path": "/var/log/mail"}},
				"config":    map[string]any{"cert_store": []any{"pemdir:/etc/postfix/certs"}}}}, 3},
		{"service monitor, no persistence, hard anti-affinity", map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
			"controller":     map[string]any{"persistence": map[string]any{"enabled": false}, "antiAffinity": "hard"}}, 3},
	}
}

func mustRender(t *testing.T, vals map[string]any) (*Rendered, *Objects) {
	t.Helper()
	r, err := Render(vals, nil)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	o, err := Decode(r.Manifest)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r, o
}

func TestLint(t *testing.T) {
	for _, vs := range valueSets() {
		if msgs := Lint(vs.vals); len(msgs) > 0 {
			t.Errorf("%s: helm lint:\n%s", vs.name, strings.Join(msgs, "\n"))
		}
	}
}

func TestRenderInvariants(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			r, o := mustRender(t, vs.vals)
			sts := controllerSTS(t, o)
			checkStatefulSet(t, sts, vs.replicas)
			checkServices(t, o, sts)
			checkPDB(t, o, sts)
			checkConfig(t, o, sts, vs.replicas)
			checkNetworkPolicy(t, o, sts)
			if !strings.Contains(r.Notes, "mx-mxprobe.mail.svc.cluster.local:7400") || !strings.Contains(r.Notes, "agentAccess.advertise") {
				t.Errorf("NOTES.txt does not tell agents the gRPC address and the enrollment status:\n%s", r.Notes)
			}
		})
	}
}

func controllerSTS(t *testing.T, o *Objects) *appsv1.StatefulSet {
	t.Helper()
	if len(o.StatefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(o.StatefulSets))
	}
	return o.StatefulSets[0]
}

func checkStatefulSet(t *testing.T, sts *appsv1.StatefulSet, replicas int) {
	t.Helper()
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != replicas {
		t.Errorf("replicas %v, want %d", sts.Spec.Replicas, replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.ServiceName != "mx-mxprobe-headless" {
		t.Errorf("serviceName %q", sts.Spec.ServiceName)
	}
	pod := sts.Spec.Template.Spec
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
		t.Errorf("terminationGracePeriodSeconds %v: too short for a leadership transfer", pod.TerminationGracePeriodSeconds)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want non-root 65532 and seccomp RuntimeDefault", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if want := []string{"run", "--config", "/etc/mxprobe/controller.yaml"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":") {
		t.Errorf("image %q has no tag", c.Image)
	}
	checkContainerSecurity(t, c)
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("liveness probe %+v, want GET /healthz on http", p)
	}
	if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds <= 0 {
		t.Errorf("preStop %+v, want a sleep on Kubernetes %s", l, KubeVersion.Version)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("service account token mounted: the controller needs no Kubernetes API")
	}
	// The pod name is the node id; advertise addresses are the pod's DNS name.
	env, err := PodEnv(c, PodName(sts, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	dns := "mx-mxprobe-1.mx-mxprobe-headless.mail.svc.cluster.local"
	for k, want := range map[string]string{"MXPROBE_NODE_ID": "mx-mxprobe-1", "MXPROBE_GRPC_ADVERTISE": dns + ":7400",
		"MXPROBE_RAFT_ADVERTISE": dns + ":7402", "MXPROBE_HTTP_ADVERTISE": dns + ":7401"} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	checkAntiAffinity(t, sts)
	// The raft data lives on the volume mounted at data_dir.
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "data" && m.MountPath == "/var/lib/mxprobe")
	}
	claims := len(sts.Spec.VolumeClaimTemplates) == 1 && sts.Spec.VolumeClaimTemplates[0].Name == "data"
	emptyDir := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "data" && v.EmptyDir != nil })
	if !mounted || claims == emptyDir {
		t.Errorf("data volume: mounted %v, claim template %v, emptyDir %v", mounted, claims, emptyDir)
	}
	if _, ok := sts.Spec.Template.Annotations["checksum/config"]; !ok {
		t.Errorf("no checksum/config annotation")
	}
}

func checkContainerSecurity(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container %s securityContext %+v: want non-root, read-only root, no escalation, drop ALL", c.Name, sc)
	}
}

func checkAntiAffinity(t *testing.T, sts *appsv1.StatefulSet) {
	t.Helper()
	a := sts.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		t.Fatalf("no pod anti-affinity")
	}
	var keys []string
	for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		keys = append(keys, w.PodAffinityTerm.TopologyKey)
	}
	for _, r := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		keys = append(keys, r.TopologyKey)
	}
	for _, k := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		if !slices.Contains(keys, k) {
			t.Errorf("anti-affinity does not spread across %s (keys %v)", k, keys)
		}
	}
}

func findService(o *Objects, name string) *corev1.Service {
	for _, s := range o.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func checkServices(t *testing.T, o *Objects, sts *appsv1.StatefulSet) {
	t.Helper()
	h := findService(o, sts.Spec.ServiceName)
	if h == nil {
		t.Fatalf("no headless Service %s", sts.Spec.ServiceName)
	}
	if h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
		t.Errorf("headless Service: clusterIP %q publishNotReadyAddresses %v", h.Spec.ClusterIP, h.Spec.PublishNotReadyAddresses)
	}
	client := findService(o, "mx-mxprobe")
	if client == nil {
		t.Fatalf("no client Service mx-mxprobe")
	}
	var ports []string
	for _, p := range client.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
	}
	if !slices.Equal(ports, []string{"grpc:7400", "http:7401"}) {
		t.Errorf("client Service ports %v", ports)
	}
	for _, s := range []*corev1.Service{h, client} {
		if !selects(s.Spec.Selector, sts.Spec.Template.Labels) {
			t.Errorf("Service %s selector %v does not select the controller pods", s.Name, s.Spec.Selector)
		}
	}
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkPDB(t *testing.T, o *Objects, sts *appsv1.StatefulSet) {
	t.Helper()
	if len(o.PDBs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(o.PDBs))
	}
	p := o.PDBs[0]
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 || p.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1", p.Spec.MaxUnavailable, p.Spec.MinAvailable)
	}
	if p.Spec.Selector == nil || !selects(p.Spec.Selector.MatchLabels, sts.Spec.Template.Labels) {
		t.Errorf("PDB selector does not select the controller pods")
	}
}

func checkNetworkPolicy(t *testing.T, o *Objects, sts *appsv1.StatefulSet) {
	t.Helper()
	if len(o.NetworkPolicies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(o.NetworkPolicies))
	}
	np := o.NetworkPolicies[0]
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.IntValue() == 7402 && (len(rule.From) != 1 || rule.From[0].PodSelector == nil ||
				!selects(rule.From[0].PodSelector.MatchLabels, sts.Spec.Template.Labels)) {
				t.Errorf("raft port open beyond the controller pods: %+v", rule)
			}
		}
	}
}

// controllerYAML is the rendered controller config file.
func controllerYAML(t *testing.T, o *Objects) string {
	t.Helper()
	for _, cm := range o.ConfigMaps {
		if y, ok := cm.Data["controller.yaml"]; ok {
			return y
		}
	}
	t.Fatalf("no ConfigMap with controller.yaml")
	return ""
}

// retryJoin is every pod's stable DNS gRPC address.
func retryJoin(replicas int) []string {
	var out []string
	for i := range replicas {
		out = append(out, fmt.Sprintf("mx-mxprobe-%d.mx-mxprobe-headless.mail.svc.cluster.local:7400", i))
	}
	return out
}

func checkConfig(t *testing.T, o *Objects, sts *appsv1.StatefulSet, replicas int) {
	t.Helper()
	var raw struct {
		BootstrapExpect int      `json:"bootstrap_expect"`
		RetryJoin       []string `json:"retry_join"`
	}
	if err := yaml.Unmarshal([]byte(controllerYAML(t, o)), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.BootstrapExpect != replicas {
		t.Errorf("bootstrap_expect %d, want replicas %d", raw.BootstrapExpect, replicas)
	}
	if want := retryJoin(replicas); !slices.Equal(raw.RetryJoin, want) {
		t.Errorf("retry_join %q, want %q", raw.RetryJoin, want)
	}
	// The pods mount the config where args point, from the rendered ConfigMap.
	var projected *corev1.ProjectedVolumeSource
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == "config" {
			projected = v.Projected
		}
	}
	if projected == nil || len(projected.Sources) == 0 || projected.Sources[0].ConfigMap == nil ||
		projected.Sources[0].ConfigMap.Name != "mx-mxprobe-config" {
		t.Errorf("config volume does not project ConfigMap mx-mxprobe-config: %+v", projected)
	}
}

func TestChecksumRollsOnConfigChange(t *testing.T) {
	sum := func(vals map[string]any) string {
		_, o := mustRender(t, vals)
		return controllerSTS(t, o).Spec.Template.Annotations["checksum/config"]
	}
	base := sum(map[string]any{})
	if again := sum(map[string]any{}); again != base {
		t.Errorf("checksum not stable across renders: %s vs %s", base, again)
	}
	changed := sum(map[string]any{"controller": map[string]any{"config": map[string]any{"plan": map[string]any{"interval": "2m"}}}})
	if changed == base {
		t.Errorf("checksum/config unchanged after plan.interval changed")
	}
	if scaled := sum(map[string]any{"controller": map[string]any{"replicas": 5}}); scaled == base {
		t.Errorf("checksum/config unchanged after replicas (retry_join) changed")
	}
}

func TestPreStopNeedsSleepAction(t *testing.T) {
	r, err := Render(map[string]any{}, &chartutil.KubeVersion{Version: "v1.29.4", Major: "1", Minor: "29"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := Decode(r.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if l := controllerSTS(t, o).Spec.Template.Spec.Containers[0].Lifecycle; l != nil {
		t.Errorf("Kubernetes 1.29 has no preStop sleep action, got %+v", l)
	}
}

func TestIngress(t *testing.T) {
	_, o := mustRender(t, valueSets()[5].vals)
	if len(o.Ingresses) != 1 {
		t.Fatalf("%d Ingresses", len(o.Ingresses))
	}
	ing := o.Ingresses[0]
	b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if b == nil || b.Name != "mx-mxprobe" || b.Port.Name != "http" {
		t.Errorf("Ingress backend %+v, want the client Service's http port", b)
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress class/tls not rendered: %+v", ing.Spec)
	}
	_, def := mustRender(t, map[string]any{})
	if len(def.Ingresses) != 0 || len(def.DaemonSets) != 0 || len(def.Unstructured) != 0 || len(def.Secrets) != 0 {
		t.Errorf("defaults render optional objects: %d ingresses, %d daemonsets, %d custom, %d secrets",
			len(def.Ingresses), len(def.DaemonSets), len(def.Unstructured), len(def.Secrets))
	}
}

func TestServiceMonitor(t *testing.T) {
	_, o := mustRender(t, valueSets()[8].vals)
	if len(o.Unstructured) != 1 || o.Unstructured[0]["kind"] != "ServiceMonitor" {
		t.Fatalf("want one ServiceMonitor, got %v", o.Unstructured)
	}
	sel := o.Unstructured[0]["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
	h := findService(o, "mx-mxprobe-headless")
	for k, v := range sel {
		if h.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, headless Service has %q", k, v, h.Labels[k])
		}
	}
}
