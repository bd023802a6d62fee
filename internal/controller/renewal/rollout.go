package renewal

import (
	"fmt"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/preflight"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Rollout states (PreflightAgent.rollout): where the change stands on a
// server by its last report.
const (
	RolloutNotImported = "not-imported"
	RolloutOldInUse    = "old-in-use"
	RolloutSwitched    = "switched"
)

// Fleet check ids of the rollout and of a site-scoped caller's view.
const (
	CheckRollout   = "rollout"
	CheckSiteScope = "site-scope"
)

// rollout says whether s's last report shows the new certificate in its
// store and its connectors on it. A connector that selects another
// certificate today still runs the old one: the pre-flight replaces every
// certificate a connector selects today (preflight's Report.Replaced).
func rollout(s *server, r preflight.Report) (string, string) {
	tp := r.New.Thumbprint
	held := false
	for _, c := range s.store.Certificates {
		held = held || c.Thumbprint == tp
	}
	if !held {
		return RolloutNotImported, "the new certificate is not in the store transport reads"
	}
	var old []string
	for _, c := range r.Connectors {
		if sel := c.Today.Selected; sel != "" && sel != tp {
			old = append(old, fmt.Sprintf("%s selects %s", c.Name, sel))
		}
	}
	if len(old) > 0 {
		return RolloutOldInUse, "imported, but still on the old certificate: " + strings.Join(old, "; ") + " (see the plan's Enable-ExchangeCertificate, TlsCertificateName and restart steps)"
	}
	if len(r.Replaced) > 0 {
		var tps []string
		for _, c := range r.Replaced {
			tps = append(tps, c.Thumbprint)
		}
		return RolloutSwitched, "every connector with a certificate selects the new one; still in the store: " + strings.Join(tps, ", ") + " (the plan's last steps remove it)"
	}
	return RolloutSwitched, "every connector with a certificate selects the new one"
}

// rolloutCheck lists, once some server holds the new certificate, the
// servers that still run the old one; before that it says the change has
// not started anywhere.
func rolloutCheck(servers []*server) *mxv1.PreflightCheck {
	var holders, behind, unknown []string
	total := 0
	for _, s := range servers {
		if !s.inSite {
			continue
		}
		name := s.out.GetServer()
		if name == "" {
			name = s.agent.GetHostname()
		}
		if s.out.GetStatus() == StatusStale {
			name += " [stale report]"
		}
		switch s.out.GetRollout() {
		case "":
			unknown = append(unknown, fmt.Sprintf("%s (%s)", name, s.out.GetStatus()))
			continue
		case RolloutNotImported:
			behind = append(behind, name+" (not imported)")
		case RolloutOldInUse:
			holders = append(holders, name)
			behind = append(behind, name+" ("+s.out.GetRolloutDetail()+")")
		case RolloutSwitched:
			holders = append(holders, name)
		}
		total++
	}
	if total == 0 {
		return nil
	}
	detail := ""
	if len(unknown) > 0 {
		detail = "not known (no prediction): " + strings.Join(unknown, "; ")
	}
	switch {
	case len(holders) == 0:
		return &mxv1.PreflightCheck{Id: CheckRollout, Status: string(preflight.Info),
			Summary: fmt.Sprintf("no server holds the new certificate yet (%s evaluated: before the change)", text.Count(total, "server")), Detail: detail}
	case len(behind) > 0:
		return &mxv1.PreflightCheck{Id: CheckRollout, Status: string(preflight.Warn),
			Summary: fmt.Sprintf("the new certificate is on %d of %d servers (%s); still running the old certificate: %s",
				len(holders), total, strings.Join(holders, ", "), strings.Join(behind, "; ")),
			Detail: joinNonEmpty("follow each remaining server's plan, then check again", detail)}
	}
	return &mxv1.PreflightCheck{Id: CheckRollout, Status: string(preflight.Pass),
		Summary: fmt.Sprintf("all %d servers run the new certificate by their last reports", total), Detail: detail}
}

// scopeCheck tells a site-scoped caller what it cannot see.
func scopeCheck(scope string) *mxv1.PreflightCheck {
	if scope == "" {
		return nil
	}
	return &mxv1.PreflightCheck{Id: CheckSiteScope, Status: string(preflight.Warn),
		Summary: "this token sees site " + scope + " only: the hybrid rules compared that site's Edge servers, not those of other sites",
		Detail:  "hybrid requires every Edge server of the organisation to share issuer and subject: have the change checked with a token without site scope before it is made"}
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
