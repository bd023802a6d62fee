package finding

import (
	"fmt"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// SeverityName is the short upper-case name of a severity ("CRITICAL").
func SeverityName(s mxv1.Severity) string {
	return strings.TrimPrefix(s.String(), "SEVERITY_")
}

// ParseSeverity accepts "critical", "ERROR", "SEVERITY_WARNING", ... .
func ParseSeverity(s string) (mxv1.Severity, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(u, "SEVERITY_") {
		u = "SEVERITY_" + u
	}
	v, ok := mxv1.Severity_value[u]
	if !ok || v == 0 {
		return 0, fmt.Errorf("finding: unknown severity %q (want info, warning, error or critical)", s)
	}
	return mxv1.Severity(v), nil
}
