package incident

import (
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// WithinSite reports whether every site an incident names (its sites, its
// root cause's, its members') is site, and it names at least one: what a
// token scoped to site may see and change. An incident spanning sites, or
// naming none (a fleet-wide or outside-in cause), belongs to the fleet.
// Incidents carried without members (notification events) are judged by
// their sites and root cause.
func WithinSite(inc *mxv1.Incident, site string) bool {
	if inc == nil || site == "" {
		return false
	}
	named := false
	in := func(s string) bool {
		if s == "" {
			return true
		}
		named = true
		return strings.EqualFold(s, site)
	}
	for _, s := range inc.GetSites() {
		if !in(s) {
			return false
		}
	}
	if !in(inc.GetRootCause().GetSite()) {
		return false
	}
	for _, m := range inc.GetMembers() {
		if !in(m.GetSite()) {
			return false
		}
	}
	return named
}
