package helmtest

import (
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Objects are a render's manifests decoded into their API types.
type Objects struct {
	StatefulSets    []*appsv1.StatefulSet
	DaemonSets      []*appsv1.DaemonSet
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	ServiceAccounts []*corev1.ServiceAccount
	PDBs            []*policyv1.PodDisruptionBudget
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
	// Custom resources whose CRD may be absent (ServiceMonitor): checked
	// for apiVersion, kind and name only.
	Unstructured []map[string]any
}

// customKinds are decoded without a schema.
var customKinds = map[string]string{"ServiceMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1"}

// Decode strict-decodes every document: duplicate YAML keys, unknown fields
// and kinds the chart is not expected to produce are errors (this is what
// kubeconform would check, without downloading schemas).
func Decode(manifest string) (*Objects, error) {
	o := &Objects{}
	for _, doc := range Docs(manifest) {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("yaml: %w\n%s", err, doc)
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			return nil, fmt.Errorf("type meta: %w", err)
		}
		var target any
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "apps/v1/StatefulSet":
			target = appendNew(&o.StatefulSets)
		case "apps/v1/DaemonSet":
			target = appendNew(&o.DaemonSets)
		case "v1/Service":
			target = appendNew(&o.Services)
		case "v1/ConfigMap":
			target = appendNew(&o.ConfigMaps)
		case "v1/Secret":
			target = appendNew(&o.Secrets)
		case "v1/ServiceAccount":
			target = appendNew(&o.ServiceAccounts)
		case "policy/v1/PodDisruptionBudget":
			target = appendNew(&o.PDBs)
		case "networking.k8s.io/v1/Ingress":
			target = appendNew(&o.Ingresses)
		case "networking.k8s.io/v1/NetworkPolicy":
			target = appendNew(&o.NetworkPolicies)
		default:
			if customKinds[tm.Kind] != tm.APIVersion {
				return nil, fmt.Errorf("unexpected kind %s\n%s", gvk, doc)
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				return nil, err
			}
			o.Unstructured = append(o.Unstructured, m)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			return nil, fmt.Errorf("%s: strict decode: %w\n%s", tm.Kind, err, doc)
		}
	}
	return o, nil
}

// appendNew appends a new zero object to *list and returns it for decoding.
func appendNew[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}
