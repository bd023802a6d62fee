// Package helmtest tests the mxprobe Helm chart offline, in its own module so
// that helm.sh/helm/v3 and k8s.io/api never enter the product's go.mod.
//
// It renders the chart with the helm SDK (no cluster), strict-decodes every
// manifest into the k8s.io/api types, checks the chart's invariants, feeds the
// rendered controller config to the controller's own loader, forms a real
// three-node cluster from the rendered config (cluster_test.go), and drives the
// compose lab with docker when docker is present (compose_test.go).
package helmtest
