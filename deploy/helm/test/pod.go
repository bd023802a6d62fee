package helmtest

import (
	"fmt"
	"regexp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PodName is the name the StatefulSet gives its pod with this ordinal.
func PodName(sts *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", sts.Name, ordinal)
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// PodEnv is the environment the kubelet would give container c of the pod
// with this name: fieldRef metadata.name resolves to the pod name, and
// $(VAR) expands variables defined earlier in the list, as Kubernetes does.
// Other sources (secrets, other fields) are errors: the chart uses none.
func PodEnv(c corev1.Container, podName string, fields map[string]string) (map[string]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := env[envRef.FindStringSubmatch(m)[1]]; ok {
					return v
				}
				return m // Kubernetes leaves unknown references as they are
			})
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = podName
		case e.ValueFrom.FieldRef != nil && fields[e.ValueFrom.FieldRef.FieldPath] != "":
			env[e.Name] = fields[e.ValueFrom.FieldRef.FieldPath]
		default:
			return nil, fmt.Errorf("env %s: unsupported source", e.Name)
		}
	}
	return env, nil
}
