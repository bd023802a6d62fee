package diagnose

import (
	"maps"
	"sort"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

var catalog = finding.Default()

// newFinding builds a finding with the catalog's default severity.
func newFinding(code finding.Code, kind mxv1.SubjectKind, subject, summary string, ev map[string]string, fix string) *mxv1.Finding {
	e, ok := catalog.Lookup(code)
	if !ok {
		panic("diagnose: undocumented finding code " + string(code)) // programming error, caught by tests
	}
	return &mxv1.Finding{
		Code:        string(code),
		Severity:    e.Severity,
		Subject:     subject,
		SubjectKind: kind,
		Summary:     summary,
		Evidence:    maps.Clone(ev),
		Remediation: fix,
	}
}

func withKV(ev map[string]string, k, v string) map[string]string {
	m := maps.Clone(ev)
	m[k] = v
	return m
}

// sortFindings orders worst first, then by code and subject.
func sortFindings(fs []*mxv1.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		if fs[i].Code != fs[j].Code {
			return fs[i].Code < fs[j].Code
		}
		return fs[i].Subject < fs[j].Subject
	})
}

// dedupe keeps the first finding of each (code, subject).
func dedupe(fs []*mxv1.Finding) []*mxv1.Finding {
	seen := map[[2]string]bool{}
	out := fs[:0]
	for _, f := range fs {
		k := [2]string{f.Code, f.Subject}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	return out
}

// psLit quotes s as a PowerShell single-quoted string literal, in which a
// backslash is literal (a receive connector's Identity is SERVER\name) and
// only a quote is doubled. Go's %q would double the backslash.
func psLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
