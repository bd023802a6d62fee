package helmtest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// Agents outside Kubernetes: every pod advertises its own external address
// for NotLeader redirects, a Service per pod gives it that address, and the
// generated certificate covers the names.
func TestAgentAccessOutsideKubernetes(t *testing.T) {
	_, o := mustRender(t, map[string]any{
		"tls": map[string]any{"enabled": true, "extraDNSNames": []any{"*.mxprobe.contoso.com"}},
		"controller": map[string]any{"agentAccess": map[string]any{
			"advertise": "$(POD_NAME).mxprobe.contoso.com:7400",
			"perPodService": map[string]any{"enabled": true,
				"annotations": map[string]any{"external-dns.alpha.kubernetes.io/hostname": "$(POD_NAME).mxprobe.contoso.com"}},
		}},
	})
	sts := controllerSTS(t, o)
	c := sts.Spec.Template.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	// POD_NAME is defined before it is used: Kubernetes expands $(VAR) only from earlier entries.
	if i, j := slices.Index(env, "POD_NAME="), slices.Index(env, "MXPROBE_GRPC_AGENT_ADVERTISE=$(POD_NAME).mxprobe.contoso.com:7400"); i < 0 || j < 0 || i > j {
		t.Fatalf("controller env %v: want POD_NAME then MXPROBE_GRPC_AGENT_ADVERTISE", env)
	}
	for i := range 3 {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		s := findService(o, pod+"-agents")
		if s == nil {
			t.Fatalf("no per-pod Service %s-agents", pod)
		}
		// The StatefulSet controller adds the pod-name label to each pod.
		labels := map[string]string{"statefulset.kubernetes.io/pod-name": pod}
		maps.Copy(labels, sts.Spec.Template.Labels)
		if s.Spec.Selector["statefulset.kubernetes.io/pod-name"] != pod || !selects(s.Spec.Selector, labels) {
			t.Errorf("%s selector %v", s.Name, s.Spec.Selector)
		}
		if s.Spec.Type != "LoadBalancer" || !s.Spec.PublishNotReadyAddresses || len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 7400 {
			t.Errorf("%s spec %+v", s.Name, s.Spec)
		}
		if h := s.Annotations["external-dns.alpha.kubernetes.io/hostname"]; h != pod+".mxprobe.contoso.com" {
			t.Errorf("%s hostname annotation %q", s.Name, h)
		}
	}
	var leaf *x509.Certificate
	for _, s := range o.Secrets {
		if b, ok := s.Data["tls.crt"]; ok {
			blk, _ := pem.Decode(b)
			if blk == nil {
				t.Fatalf("secret %s: tls.crt is not PEM", s.Name)
			}
			var err error
			if leaf, err = x509.ParseCertificate(blk.Bytes); err != nil {
				t.Fatal(err)
			}
		}
	}
	if leaf == nil || leaf.VerifyHostname("mx-mxprobe-2.mxprobe.contoso.com") != nil {
		t.Fatalf("generated certificate does not cover the agent names: %v", leaf.DNSNames)
	}

	// Off by default: no per-pod Services, no agent address.
	_, o = mustRender(t, map[string]any{})
	for _, s := range o.Services {
		if s.Spec.Selector["statefulset.kubernetes.io/pod-name"] != "" {
			t.Errorf("default render has per-pod Service %s", s.Name)
		}
	}
	for _, e := range controllerSTS(t, o).Spec.Template.Spec.Containers[0].Env {
		if e.Name == "MXPROBE_GRPC_AGENT_ADVERTISE" {
			t.Errorf("default render sets %s", e.Name)
		}
	}
}
