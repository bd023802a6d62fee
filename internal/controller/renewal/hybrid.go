package renewal

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// CheckHybridEdges is the fleet check's id (the one place it is spelled).
const CheckHybridEdges = "hybrid-edge-identity"

// CheckHybridEdgesToday is the same rule on what the servers select now.
const CheckHybridEdgesToday = "hybrid-edge-identity-today"

// exoConnectors names (as preflight.Connector.Name spells them) the
// enabled connectors of an Edge server that exchange mail with Exchange
// Online: send connectors delivering to it, receive connectors it is
// explicitly allowed on (TlsDomainCapabilities). Empty: not a hybrid Edge.
func exoConnectors(cfg *exchange.Config) []string {
	if cfg.Server.Role() != exchange.RoleEdge {
		return nil
	}
	var out []string
	for _, c := range cfg.SendConnectors {
		if exo, _ := c.TargetsExchangeOnline(); exo && c.Enabled {
			out = append(out, certdiag.ConnectorSubject(exchange.KindSend, cfg.Server.Name, c.Name))
		}
	}
	for _, c := range cfg.ReceiveConnectors {
		if reach, _ := c.ExchangeOnlineReachability(exchange.RoleEdge); reach == exchange.ReachExplicit && c.Enabled {
			out = append(out, certdiag.ConnectorSubject(exchange.KindReceive, cfg.Server.Name, c.Name))
		}
	}
	return out
}

func isEdgeAgent(a *mxv1.Agent) bool { return slices.Contains(a.GetRoles(), mxv1.Role_ROLE_EDGE) }

// hybridEdgeRule: every hybrid Edge server must end with one issuer and
// subject on its Exchange Online connectors. Servers the import covers end
// with what their prediction's last state selects; the others keep what
// they select today.
func hybridEdgeRule(servers []*server, n *mxv1.PreflightCertificateInfo, req Request) []*mxv1.PreflightCheck {
	type end struct {
		name     string
		ids      []string // identities selected at the end ("" none)
		imported bool
	}
	var ends []end
	var unknown []string
	for _, s := range servers {
		name := s.agent.GetHostname()
		if s.out.GetServer() != "" {
			name = s.out.GetServer()
		}
		if s.cfg == nil {
			if isEdgeAgent(s.agent) {
				unknown = append(unknown, fmt.Sprintf("%s (%s)", name, s.out.GetDetail()))
			}
			continue
		}
		exo := exoConnectors(s.cfg)
		if len(exo) == 0 {
			continue
		}
		idOf := identities(s, n)
		e := end{name: name}
		switch {
		case s.inSite && s.report != nil:
			e.imported = true
			for _, c := range s.report.Connectors {
				if slices.Contains(exo, c.Name) {
					e.ids = appendNew(e.ids, idOf(c.Removal.Selected))
				}
			}
		case s.inSite:
			unknown = append(unknown, fmt.Sprintf("%s (%s)", name, s.out.GetDetail()))
			continue
		default:
			ids, err := todayIdentities(s, exo, idOf, req.Now)
			if err != nil {
				unknown = append(unknown, fmt.Sprintf("%s (%v)", name, err))
				continue
			}
			e.ids = ids
		}
		ends = append(ends, e)
	}
	var out []*mxv1.PreflightCheck
	if len(unknown) > 0 {
		out = append(out, &mxv1.PreflightCheck{Id: CheckHybridEdges, Status: string(preflight.Warn),
			Summary: "the transport certificate of these Edge servers is not known, so the hybrid rule (all Edge servers share issuer and subject) cannot be checked for them: " + strings.Join(unknown, "; "),
			Detail:  "configure exchange_inventory on their agents (docs/exchange-inventory.md) and check again"})
	}
	if len(ends) == 0 {
		return out
	}
	groups := map[string][]string{}
	for _, e := range ends {
		for _, id := range e.ids {
			what := e.name + " (keeps it: not in the import)"
			if e.imported {
				what = e.name + " (after the import)"
			}
			groups[id] = append(groups[id], what)
		}
	}
	if len(groups) == 1 {
		for id, who := range groups {
			if id != "" {
				return append(out, &mxv1.PreflightCheck{Id: CheckHybridEdges, Status: string(preflight.Pass),
					Summary: fmt.Sprintf("all %d hybrid Edge servers end with %s: %s", len(ends), id, strings.Join(who, ", "))})
			}
			return append(out, &mxv1.PreflightCheck{Id: CheckHybridEdges, Status: string(preflight.Fail),
				Summary: "after this change the Exchange Online connectors of the hybrid Edge servers select no certificate: " + strings.Join(who, ", "),
				Detail:  "see each server's connector outcomes and its tls-certificate-name check (the value to set is there)"})
		}
	}
	parts := groupLabels(groups)
	var fix []string
	var left []string
	oldIDs := map[string]bool{}
	for _, e := range ends {
		if !e.imported {
			left = append(left, e.name)
			for _, id := range e.ids {
				if id != n.GetTlsCertificateName() {
					oldIDs[id] = true
				}
			}
		}
	}
	if len(left) > 0 {
		fix = append(fix, fmt.Sprintf("import the new certificate on %s too, in the same change (controller preflight --new-cert FILE without --site shows all of them), then run the Hybrid Configuration Wizard's \"Update Secure Mail Certificate\" step once every Edge server holds it", strings.Join(left, ", ")))
	}
	for id := range oldIDs {
		if id != "" {
			fix = append(fix, fmt.Sprintf("or have the certificate reissued with the issuer and subject the other Edge servers use (TlsCertificateName %s)", id))
		}
	}
	for _, e := range ends {
		if e.imported && (len(e.ids) != 1 || e.ids[0] != n.GetTlsCertificateName()) {
			fix = append(fix, fmt.Sprintf("on %s the Exchange Online connectors would not use the new certificate: see its connector outcomes and the tls-certificate-name check", e.name))
		}
	}
	sort.Strings(fix[min(1, len(fix)):])
	return append(out, &mxv1.PreflightCheck{Id: CheckHybridEdges, Status: string(preflight.Fail),
		Summary: "hybrid requires every Edge server that exchanges mail with Exchange Online to use a certificate with the same issuer and subject; after this change they differ: " + strings.Join(parts, "; "),
		Detail:  strings.Join(fix, "; ")})
}

// identities maps a thumbprint of s's store (or the new certificate's) to
// its TlsCertificateName ("" unknown or none).
func identities(s *server, n *mxv1.PreflightCertificateInfo) func(string) string {
	certs := map[string]*x509.Certificate{}
	for _, c := range s.store.Certificates {
		certs[c.Thumbprint] = c.Cert
	}
	return func(tp string) string {
		if tp == n.GetThumbprint() {
			return n.GetTlsCertificateName()
		}
		if c := certs[tp]; c != nil {
			return exchange.TLSCertificateNameFor(c).String()
		}
		return ""
	}
}

// todayIdentities are the identities s's Exchange Online connectors
// select on its store as last reported.
func todayIdentities(s *server, exo []string, idOf func(string) string, now time.Time) ([]string, error) {
	sels, err := exchange.SimulateSelection(s.cfg, s.store.Certificates, exchange.SelectOptions{Now: now})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, sel := range sels {
		if slices.Contains(exo, certdiag.ConnectorSubject(sel.Kind, s.cfg.Server.Name, sel.Connector)) {
			ids = appendNew(ids, idOf(sel.Selected))
		}
	}
	return ids, nil
}

// hybridEdgeToday is the hybrid rule on what every visible hybrid Edge
// server selects now (halfway through a rollout they differ). It is a
// warning, not a break of the change: the end state is hybridEdgeRule's.
func hybridEdgeToday(servers []*server, n *mxv1.PreflightCertificateInfo, now time.Time) []*mxv1.PreflightCheck {
	groups := map[string][]string{}
	count := 0
	for _, s := range servers {
		if s.cfg == nil {
			continue
		}
		exo := exoConnectors(s.cfg)
		if len(exo) == 0 {
			continue
		}
		ids, err := todayIdentities(s, exo, identities(s, n), now)
		if err != nil {
			continue
		}
		count++
		name := s.agent.GetHostname()
		if s.out.GetServer() != "" {
			name = s.out.GetServer()
		}
		for _, id := range ids {
			groups[id] = append(groups[id], name)
		}
	}
	if count == 0 {
		return nil
	}
	if len(groups) == 1 {
		for id, who := range groups {
			if id != "" {
				return []*mxv1.PreflightCheck{{Id: CheckHybridEdgesToday, Status: string(preflight.Pass),
					Summary: fmt.Sprintf("today every hybrid Edge server (%d) uses %s: %s", count, id, strings.Join(who, ", "))}}
			}
		}
	}
	parts := groupLabels(groups)
	return []*mxv1.PreflightCheck{{Id: CheckHybridEdgesToday, Status: string(preflight.Warn),
		Summary: "today, by their last reports, the hybrid Edge servers' Exchange Online connectors do not all use one issuer and subject (" + strings.Join(parts, "; ") + "): the hybrid send connector's single TlsCertificateName cannot match on all of them",
		Detail:  "finish the rollout so every Edge server holds and selects the same certificate, then run the Hybrid Configuration Wizard's \"Update Secure Mail Certificate\" step; hybrid-edge-identity says whether this change gets there"}}
}

// groupLabels names each certificate identity and the servers on it,
// "<identity>: a, b", identities in order ("" is "no certificate").
func groupLabels(groups map[string][]string) []string {
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		label := id
		if id == "" {
			label = "no certificate"
		}
		parts = append(parts, label+": "+strings.Join(groups[id], ", "))
	}
	return parts
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
