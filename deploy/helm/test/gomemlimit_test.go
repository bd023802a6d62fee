package helmtest

import "testing"

// GOMEMLIMIT follows the controller's memory limit (90%, in MiB), and is
// absent without a limit it can read.
func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		limits map[string]any
		want   string
	}{
		{nil, "921MiB"}, // the chart's default limit, 1Gi
		{map[string]any{"memory": "512Mi"}, "460MiB"},
		{map[string]any{"memory": "2Gi", "cpu": "2"}, "1843MiB"},
		{map[string]any{"memory": "1.5Gi"}, ""},
		{map[string]any{"cpu": "1", "memory": nil}, ""}, // null removes the default limit
	} {
		vals := map[string]any{}
		if c.limits != nil {
			vals = map[string]any{"controller": map[string]any{"resources": map[string]any{"limits": c.limits}}}
		}
		_, o := mustRender(t, vals)
		got := ""
		for _, e := range controllerSTS(t, o).Spec.Template.Spec.Containers[0].Env {
			if e.Name == "GOMEMLIMIT" {
				got = e.Value
			}
		}
		if got != c.want {
			t.Errorf("limits %v: GOMEMLIMIT %q, want %q", c.limits, got, c.want)
		}
	}
}
