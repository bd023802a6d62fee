// Package findingtest holds the helpers tests use to look findings up by
// code, so each package's tests do not write them again.
package findingtest

import (
	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Codes lists the findings' codes in order.
func Codes(fs []*mxv1.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetCode())
	}
	return out
}

// Find returns the first finding with code, or nil.
func Find(fs []*mxv1.Finding, code finding.Code) *mxv1.Finding {
	for _, f := range fs {
		if f.GetCode() == string(code) {
			return f
		}
	}
	return nil
}

// All returns every finding with code, in order.
func All(fs []*mxv1.Finding, code finding.Code) []*mxv1.Finding {
	var out []*mxv1.Finding
	for _, f := range fs {
		if f.GetCode() == string(code) {
			out = append(out, f)
		}
	}
	return out
}
