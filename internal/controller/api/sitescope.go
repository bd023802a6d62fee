package api

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Site scope of API tokens. A token created with a site reads and changes
// only that site's data: agents, results and findings of its agents, the
// certificates they report, and incidents (with their events and
// deliveries) that involve no other site. An incident spanning sites, or
// naming none (a fleet-wide or outside-in cause), belongs to the fleet:
// site tokens neither see nor change it. Every check runs where the call
// is answered (a forwarded call carries the token and is checked again on
// the leader).

// siteFilter returns the site a list is limited to: the requested one for
// an unscoped caller; the token's site for a scoped one, which may not ask
// for another.
func siteFilter(ctx context.Context, requested string) (string, error) {
	scope := auth.SiteScope(ctx)
	if scope == "" {
		return requested, nil
	}
	if requested != "" && !strings.EqualFold(requested, scope) {
		return "", status.Errorf(codes.PermissionDenied, "this token is scoped to site %s", scope)
	}
	return scope, nil
}

// fleetOnly refuses site-scoped callers for what covers every site.
func fleetOnly(ctx context.Context, what string) error {
	if scope := auth.SiteScope(ctx); scope != "" {
		return status.Errorf(codes.PermissionDenied, "this token is scoped to site %s; %s covers every site", scope, what)
	}
	return nil
}

// incidentVisible applies the caller's scope to one incident.
func incidentVisible(ctx context.Context, inc *mxv1.Incident) bool {
	scope := auth.SiteScope(ctx)
	return inc != nil && (scope == "" || incident.WithinSite(inc, scope))
}

// visibleIncidents keeps the incidents the caller may see.
func visibleIncidents(ctx context.Context, incs []*mxv1.Incident) []*mxv1.Incident {
	if auth.SiteScope(ctx) == "" {
		return incs
	}
	out := make([]*mxv1.Incident, 0, len(incs))
	for _, inc := range incs {
		if incidentVisible(ctx, inc) {
			out = append(out, inc)
		}
	}
	return out
}

// errIncidentHidden is what a scoped caller gets for an incident outside
// its site: the same as for one that does not exist.
func errIncidentHidden(id string) error {
	return status.Errorf(codes.NotFound, "incident %s not found", id)
}
