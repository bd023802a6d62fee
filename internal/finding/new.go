package finding

import (
	"maps"
	"sort"
	"sync"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// builtin is Default built once (the catalog never changes after init).
var builtin = sync.OnceValue(Default)

// New builds a finding with the default catalog's severity for code. Every
// rule (internal/certdiag, internal/agent/diagnose) builds its findings
// here, so a code's severity has one owner. An undocumented code panics:
// it is a programming error, caught by the rules' tests.
func New(code Code, kind mxv1.SubjectKind, subject, summary string, ev map[string]string, fix string) *mxv1.Finding {
	e, ok := builtin().Lookup(code)
	if !ok {
		panic("finding: undocumented finding code " + string(code))
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

// Sort orders findings worst first, then by code and subject.
func Sort(fs []*mxv1.Finding) {
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

// Dedupe keeps the first finding of each (code, subject), in place.
func Dedupe(fs []*mxv1.Finding) []*mxv1.Finding {
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

// Lookup returns the default catalog's entry for a code.
func Lookup(code Code) (Entry, bool) { return builtin().Lookup(code) }

// WithKV returns a copy of the evidence ev with k set to v.
func WithKV(ev map[string]string, k, v string) map[string]string {
	m := maps.Clone(ev)
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
