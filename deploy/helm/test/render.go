package helmtest

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// Release name and namespace every render uses; the tests' expected DNS
// names follow from them.
const (
	ReleaseName = "mx"
	Namespace   = "mail"
)

// KubeVersion is the API server version the chart is rendered for (the
// preStop sleep action needs 1.30 or later).
var KubeVersion = &chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

// RepoRoot is the root of the mxprobe repository (three levels up).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// ChartDir is deploy/helm/mxprobe.
func ChartDir() string { return filepath.Join(RepoRoot(), "deploy", "helm", "mxprobe") }

// Rendered is one client-only install: the manifests and NOTES.txt.
type Rendered struct {
	Manifest string
	Notes    string
}

// Render runs `helm install --dry-run` client-side with vals (schema
// validation included) and returns what it would apply.
func Render(vals map[string]any, kube *chartutil.KubeVersion) (*Rendered, error) {
	chrt, err := loader.Load(ChartDir())
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = ReleaseName, Namespace
	inst.KubeVersion = kube
	if kube == nil {
		inst.KubeVersion = KubeVersion
	}
	rel, err := inst.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	notes := ""
	if rel.Info != nil {
		notes = rel.Info.Notes
	}
	return &Rendered{Manifest: rel.Manifest, Notes: notes}, nil
}

// Lint runs helm's linter (the SDK behind `helm lint --strict`) with vals and
// returns every message at warning or above.
func Lint(vals map[string]any) []string {
	l := lint.AllWithKubeVersion(ChartDir(), vals, Namespace, KubeVersion)
	var out []string
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out
}

// Docs splits a rendered manifest into its YAML documents (empty ones
// dropped), keyed by nothing: order is helm's install order.
func Docs(manifest string) []string {
	var docs []string
	for _, d := range strings.Split(manifest, "\n---") {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
