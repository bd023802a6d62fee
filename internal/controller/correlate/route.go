package correlate

import (
	"slices"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// A group's route is the bucket it joins and what it sets there. It is a
// function of the group and of a few counts about its peers (hosts sharing
// a certificate, sites seeing a flow fail, probers of an endpoint), so a
// full round (classify) and an incremental one (incremental.go) decide it
// with the same code from the same counts.

// groupKind is the classifier a group's root goes to.
type groupKind uint8

const (
	kindServer   groupKind = iota // a host-local finding: a server incident
	kindHorizon                   // CERT_EXPIRING: per certificate identity
	kindEndpoint                  // about an SMTP endpoint (probes, reports)
	kindCert                      // a store certificate problem
	kindFlow                      // a protocol-log or queue failure
	kindOutside                   // senders' reports about a domain
)

// features sets the group's kind and the keys its route depends on.
func (v *view) features(g *group) {
	f := g.root.f
	g.code = f.GetCode()
	switch {
	case g.code == string(finding.CertExpiring):
		g.kind, g.ident = kindHorizon, certIdentity(f)
	case findingEndpoint(f) != "":
		g.kind, g.ep = kindEndpoint, findingEndpoint(f)
		g.target = v.internalHost(endpointHost(g.ep))
	case slices.Contains(storeCertCodes, g.code) && f.GetSubjectKind() == mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE:
		g.kind, g.ident = kindCert, certIdentity(f)
	case slices.Contains(flowCodes, g.code):
		g.kind, g.remote, g.dir = kindFlow, flowRemote(f), flowDirection(f)
	case g.agent.outside:
		g.kind = kindOutside
	default:
		g.kind = kindServer
	}
	g.worst = g.root.f.GetSeverity()
	for _, s := range g.symptoms {
		g.worst = max(g.worst, s.f.GetSeverity())
	}
}

// phase is when a round's classification reaches the group: attributes a
// bucket takes from its last contributor (host, remote, direction) follow
// this order, then agent and group order.
func (g *group) phase() int {
	switch g.kind {
	case kindCert:
		return 1
	case kindFlow:
		return 2
	case kindEndpoint:
		if g.agent.outside {
			return 4
		}
		return 3
	}
	return 0
}

// route is where a group goes and what it sets on its bucket.
type route struct {
	key bucketKey
	// peers: the group's findings join as peer observations.
	peers bool
	// inbound: an agent's failing probe of an internal host's endpoint
	// opened (or joined) the host's inbound server incident.
	inbound                    bool
	setHost, setRemote, setDir bool
	host, remote               string
	dir                        mxv1.FlowDirection
	// target and okSites join a site incident's lists.
	target  string
	okSites []string
	// rule is which endpoint rule decided (endpointRoute).
	rule uint8
}

// Endpoint rules, in the order endpointRoute tries them.
const (
	ruleNone uint8 = iota
	ruleSitePath
	ruleAnchor
	ruleInboundReport
	ruleOwnProblem
	ruleInbound
	ruleRemote
)

func (b *bucket) apply(g *group, r route) {
	role := roleSymptom
	if r.peers {
		role = rolePeer
		b.members = append(b.members, member{g.root, rolePeer})
	} else {
		b.members = append(b.members, member{g.root, roleRoot})
	}
	for _, s := range g.symptoms {
		b.members = append(b.members, member{s, role})
	}
	b.set(r)
}

// set applies a route's attributes.
func (b *bucket) set(r route) {
	if r.setHost {
		b.host = r.host
	}
	if r.setRemote {
		b.remote = r.remote
	}
	if r.setDir {
		b.dir = r.dir
	}
	if r.target != "" && !slices.Contains(b.targets, r.target) {
		b.targets = append(b.targets, r.target)
	}
	for _, s := range r.okSites {
		if !slices.Contains(b.okSites, s) {
			b.okSites = append(b.okSites, s)
		}
	}
}

// directRoute: groups whose bucket depends on nothing else.
func (g *group) directRoute() route {
	switch g.kind {
	case kindHorizon:
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON, g.code, g.ident}}
	case kindOutside:
		// Senders' reports about a domain, not about an agent's host
		// (outside.go).
		s := g.root.f.GetSubject()
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, g.code, s}, setRemote: true, remote: s}
	}
	return g.serverRoute()
}

func (g *group) serverRoute() route {
	return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, g.code, g.agent.host + "/" + g.root.f.GetSubject()}, setHost: true, host: g.agent.host}
}

type certKey struct{ code, key string }

func (g *group) tpKey() certKey { return certKey{g.code, g.root.f.GetSubject()} }
func (g *group) idKey() certKey { return certKey{g.code, g.ident} }

// certRoute: hostsTP and hostsID are how many hosts hold the same problem
// on the same thumbprint and on the same issuer+subject.
func (g *group) certRoute(hostsTP, hostsID int) route {
	switch {
	case hostsTP >= 2:
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, g.code, g.root.f.GetSubject()}}
	case hostsID >= 2:
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, g.code, g.ident}}
	}
	return g.serverRoute()
}

type flowKey struct{ code, remote string }

func (g *group) flowKey() flowKey { return flowKey{g.code, g.remote} }

// flowRoute: sites is how many sites see this flow failure to this remote,
// flowSites how many sites observe flows at all.
func (g *group) flowRoute(sites, flowSites int) route {
	if sites >= 2 && sites >= flowSites {
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, g.code, g.remote}, setRemote: true, remote: g.remote, setDir: true, dir: g.dir}
	}
	subject := g.agent.host + " -> " + g.remote
	if g.dir == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND {
		subject = g.remote + " -> " + g.agent.host
	}
	return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION, g.code, subject},
		setHost: true, host: g.agent.host, setRemote: true, remote: g.remote, setDir: true, dir: g.dir}
}

type epKey struct{ ep, code string }

func (g *group) epKey() epKey { return epKey{g.ep, g.code} }

// siteView is, for one endpoint and code, the sites where every prober
// fails with that code (all[site] true) and the sites where a prober
// succeeds (ok).
type siteView struct {
	all, ok map[string]bool
	// okSorted: the keys of ok, sorted.
	okSorted []string
}

func newSiteView(probers []probe, fails func(agentID string) bool) siteView {
	s := siteView{all: map[string]bool{}, ok: map[string]bool{}}
	for _, p := range probers {
		if _, ok := s.all[p.agent.site]; !ok {
			s.all[p.agent.site] = true
		}
		if !fails(p.agent.id) {
			s.all[p.agent.site] = false
			if !p.failed {
				s.ok[p.agent.site] = true
			}
		}
	}
	s.okSorted = sortedKeys(s.ok)
	return s
}

// endpointRoute: fails is how many agents fail the endpoint with this code,
// probers how many probe results target it; anchor is the worst server or
// certificate incident on the endpoint's host, inbound the worst inbound
// incident agents' probes opened for it (both asked only when needed).
func (g *group) endpointRoute(s siteView, fails, probers int, anchor, inbound func() (bucketKey, bool)) route {
	siteAll, siteOK := s.all, s.ok
	if !g.agent.outside && siteAll[g.agent.site] && len(siteOK) > 0 && !siteOK[g.agent.site] {
		// The whole site fails where other sites succeed: the path.
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SITE, g.code, g.agent.site}, target: g.ep, okSites: s.okSorted, rule: ruleSitePath}
	}
	if g.target != "" {
		if k, ok := anchor(); ok {
			return route{key: k, peers: true, rule: ruleAnchor}
		}
		if g.agent.outside {
			// Agents' probes of this MX already opened an inbound incident
			// for it (an expired certificate seen from the peers): the
			// senders' failures are more peers of it.
			if k, ok := inbound(); ok {
				return route{key: k, peers: true, rule: ruleInboundReport}
			}
		}
	}
	switch {
	case !g.agent.outside && len(siteOK) > 0 && !siteAll[g.agent.site] && fails < probers:
		// Others in the same site succeed: the observer's own problem.
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, g.code, g.agent.host + " -> " + g.ep}, setHost: true, host: g.agent.host, rule: ruleOwnProblem}
	case g.target != "":
		return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, g.code, g.target + "/" + g.ep}, peers: true, inbound: true,
			setHost: true, host: g.target, setDir: true, dir: mxv1.FlowDirection_FLOW_DIRECTION_INBOUND, rule: ruleInbound}
	}
	return route{key: bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, g.code, g.ep}, setRemote: true, remote: g.ep, rule: ruleRemote}
}

// inboundIndex: the inbound server incidents agents' probes opened, by
// subject (host/endpoint), with the worst of those agents' findings.
type inboundIndex struct {
	keys  map[string][]bucketKey
	worst map[bucketKey]mxv1.Severity
}

func newInboundIndex() inboundIndex {
	return inboundIndex{keys: map[string][]bucketKey{}, worst: map[bucketKey]mxv1.Severity{}}
}

func (ix inboundIndex) add(g *group, r route) {
	if !r.inbound || g.agent.outside {
		return
	}
	if !slices.Contains(ix.keys[r.key.subject], r.key) {
		ix.keys[r.key.subject] = append(ix.keys[r.key.subject], r.key)
	}
	ix.worst[r.key] = max(ix.worst[r.key], g.worst)
}

func (ix inboundIndex) best(subject string) (bucketKey, bool) {
	return bestAnchor(ix.keys[subject], ix.worst)
}
