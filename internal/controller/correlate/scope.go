package correlate

import (
	"cmp"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Member roles.
const (
	roleRoot    = "root_cause"
	roleSymptom = "symptom"
	rolePeer    = "peer"
	roleMember  = "member"
)

type member struct {
	o    *obs
	role string
}

type bucketKey struct {
	scope          mxv1.IncidentScope
	cause, subject string
}

// bucket collects the members of one incident candidate.
type bucket struct {
	key     bucketKey
	members []member
	// host is the server a server/direction incident is about.
	host string
	// remote is the remote service of a direction/remote incident.
	remote string
	dir    mxv1.FlowDirection
	// targets a site incident's agents fail to.
	targets []string
	// okSites: sites whose probers reach a site incident's targets.
	okSites []string
	// silent lists silent agents (AGENT_SILENT).
	silent []*agentInfo
}

type buckets struct {
	m     map[bucketKey]*bucket
	order []bucketKey
}

func (bs *buckets) get(k bucketKey) *bucket {
	if b := bs.m[k]; b != nil {
		return b
	}
	b := &bucket{key: k}
	bs.m[k] = b
	bs.order = append(bs.order, k)
	return b
}

func (b *bucket) addGroup(g *group) {
	b.members = append(b.members, member{g.root, roleRoot})
	for _, s := range g.symptoms {
		b.members = append(b.members, member{s, roleSymptom})
	}
}

// storeCertCodes are problems of a certificate in a server's store.
var storeCertCodes = []string{
	string(finding.CertNoPrivateKey), string(finding.CertKeyNotAccessible), string(finding.CertExpired),
	string(finding.CertNotYetValid), string(finding.CertChainIncomplete), string(finding.CertUntrusted),
	string(finding.CertSelfSigned), string(finding.CertWeakKey), string(finding.CertWeakSignature), string(finding.CertNameMismatch),
}

// flowCodes are symptoms of a mail flow (protocol logs, queues).
var flowCodes = []string{
	string(finding.LogTLSNegotiationFailed), string(finding.LogTLSCertNotFound), string(finding.LogStartTLSNotOffered),
	string(finding.LogStartTLSRequired), string(finding.LogUnexpectedCertSent), string(finding.QueueTLSFailure),
}

// classify assigns every group to a bucket (see the package doc).
func (v *view) classify(groups []*group) *buckets {
	bs := &buckets{m: map[bucketKey]*bucket{}}
	var certGroups, endpointGroups, flowGroups []*group
	for _, g := range groups {
		f := g.root.f
		switch {
		case f.GetCode() == string(finding.CertExpiring):
			id := certIdentity(f)
			bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON, f.GetCode(), id}).addGroup(g)
		case findingEndpoint(f) != "":
			endpointGroups = append(endpointGroups, g)
		case slices.Contains(storeCertCodes, f.GetCode()) && f.GetSubjectKind() == mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE:
			certGroups = append(certGroups, g)
		case slices.Contains(flowCodes, f.GetCode()):
			flowGroups = append(flowGroups, g)
		default:
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, f.GetCode(), g.agent.host + "/" + f.GetSubject()})
			b.host = g.agent.host
			b.addGroup(g)
		}
	}
	v.classifyCerts(bs, certGroups)
	v.classifyFlows(bs, flowGroups)
	v.classifyEndpoints(bs, endpointGroups)
	v.silentAgents(bs)
	return bs
}

// classifyCerts: the same certificate problem on several hosts is one
// certificate incident (by thumbprint, else by issuer+subject); on one host
// it is a server incident.
func (v *view) classifyCerts(bs *buckets, gs []*group) {
	hostsBy := func(key func(*group) string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, g := range gs {
			k := g.root.f.GetCode() + "\x00" + key(g)
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][g.agent.host] = true
		}
		return m
	}
	byTP := hostsBy(func(g *group) string { return g.root.f.GetSubject() })
	byID := hostsBy(func(g *group) string { return certIdentity(g.root.f) })
	for _, g := range gs {
		f := g.root.f
		var k bucketKey
		switch {
		case len(byTP[f.GetCode()+"\x00"+f.GetSubject()]) >= 2:
			k = bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, f.GetCode(), f.GetSubject()}
		case len(byID[f.GetCode()+"\x00"+certIdentity(f)]) >= 2:
			k = bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, f.GetCode(), certIdentity(f)}
		default:
			k = bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, f.GetCode(), g.agent.host + "/" + f.GetSubject()}
		}
		b := bs.get(k)
		if k.scope == mxv1.IncidentScope_INCIDENT_SCOPE_SERVER {
			b.host = g.agent.host
		}
		b.addGroup(g)
	}
}

// classifyFlows: protocol-log and queue failures without a local root
// cause. Failing from every site that observes flows (two or more): the
// remote side. Otherwise one direction incident per host.
func (v *view) classifyFlows(bs *buckets, gs []*group) {
	type rk struct{ code, remote string }
	sitesBy := map[rk]map[string]bool{}
	for _, g := range gs {
		k := rk{g.root.f.GetCode(), flowRemote(g.root.f)}
		if sitesBy[k] == nil {
			sitesBy[k] = map[string]bool{}
		}
		sitesBy[k][g.agent.site] = true
	}
	for _, g := range gs {
		f := g.root.f
		remote := flowRemote(f)
		dir := flowDirection(f)
		sites := sitesBy[rk{f.GetCode(), remote}]
		if len(sites) >= 2 && len(sites) >= len(v.flowSites) {
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, f.GetCode(), remote})
			b.remote, b.dir = remote, dir
			b.addGroup(g)
			continue
		}
		subject := g.agent.host + " -> " + remote
		if dir == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND {
			subject = remote + " -> " + g.agent.host
		}
		b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION, f.GetCode(), subject})
		b.host, b.remote, b.dir = g.agent.host, remote, dir
		b.addGroup(g)
	}
}

// classifyEndpoints: findings about an SMTP endpoint seen by probes.
func (v *view) classifyEndpoints(bs *buckets, gs []*group) {
	// Anchors: server and certificate incidents per host, to fold peers'
	// failing probes of that host into.
	anchors := map[string][]bucketKey{}
	for _, k := range bs.order {
		b := bs.m[k]
		if k.scope != mxv1.IncidentScope_INCIDENT_SCOPE_SERVER && k.scope != mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE {
			continue
		}
		for _, m := range b.members {
			if m.role == roleRoot && !slices.Contains(anchors[m.o.agent.host], k) {
				anchors[m.o.agent.host] = append(anchors[m.o.agent.host], k)
			}
		}
	}
	type ek struct{ ep, code string }
	failing := map[ek]map[string]bool{} // agent ids failing with this code
	for _, g := range gs {
		k := ek{findingEndpoint(g.root.f), g.root.f.GetCode()}
		if failing[k] == nil {
			failing[k] = map[string]bool{}
		}
		failing[k][g.agent.id] = true
	}
	// Per (endpoint, code), computed once: sites where every prober fails
	// with that code, and sites where a prober succeeds.
	type siteView struct{ all, ok map[string]bool }
	sv := map[ek]siteView{}
	for _, g := range gs {
		f := g.root.f
		ep := findingEndpoint(f)
		target := v.internalHost(endpointHost(ep))
		probers := v.probes[ep]
		k := ek{ep, f.GetCode()}
		fails := failing[k]
		s, ok := sv[k]
		if !ok {
			s = siteView{all: map[string]bool{}, ok: map[string]bool{}}
			for _, p := range probers {
				if _, ok := s.all[p.agent.site]; !ok {
					s.all[p.agent.site] = true
				}
				if !fails[p.agent.id] {
					s.all[p.agent.site] = false
					if !p.failed {
						s.ok[p.agent.site] = true
					}
				}
			}
			sv[k] = s
		}
		siteAll, siteOK := s.all, s.ok
		switch {
		case siteAll[g.agent.site] && len(siteOK) > 0 && !siteOK[g.agent.site]:
			// The whole site fails where other sites succeed: the path.
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SITE, f.GetCode(), g.agent.site})
			b.addGroup(g)
			if !slices.Contains(b.targets, ep) {
				b.targets = append(b.targets, ep)
			}
			for _, s := range sortedKeys(siteOK) {
				if !slices.Contains(b.okSites, s) {
					b.okSites = append(b.okSites, s)
				}
			}
		case target != "" && len(anchors[target]) > 0:
			b := bs.m[worstAnchor(bs, anchors[target])]
			b.members = append(b.members, member{g.root, rolePeer})
			for _, s := range g.symptoms {
				b.members = append(b.members, member{s, rolePeer})
			}
		case len(siteOK) > 0 && siteAll[g.agent.site] == false && len(fails) < len(probers):
			// Others in the same site succeed: the observer's own problem.
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, f.GetCode(), g.agent.host + " -> " + ep})
			b.host = g.agent.host
			b.addGroup(g)
		case target != "":
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, f.GetCode(), target + "/" + ep})
			b.host = target
			b.dir = mxv1.FlowDirection_FLOW_DIRECTION_INBOUND
			b.members = append(b.members, member{g.root, rolePeer})
			for _, s := range g.symptoms {
				b.members = append(b.members, member{s, rolePeer})
			}
		default:
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, f.GetCode(), ep})
			b.remote = ep
			b.addGroup(g)
		}
	}
}

func worstAnchor(bs *buckets, ks []bucketKey) bucketKey {
	best := ks[0]
	for _, k := range ks[1:] {
		if c := cmp.Compare(worst(bs.m[k]), worst(bs.m[best])); c > 0 || c == 0 && lessKey(k, best) {
			best = k
		}
	}
	return best
}

func worst(b *bucket) mxv1.Severity {
	var s mxv1.Severity
	for _, m := range b.members {
		s = max(s, m.o.f.GetSeverity())
	}
	return s
}

func lessKey(a, b bucketKey) bool {
	return cmp.Or(cmp.Compare(a.scope, b.scope), cmp.Compare(a.cause, b.cause), cmp.Compare(a.subject, b.subject)) < 0
}

// silentAgents raises AGENT_SILENT per site for agents silent past SilentAfter.
func (v *view) silentAgents(bs *buckets) {
	for _, a := range v.agents {
		if a.silent {
			b := bs.get(bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SITE, string(finding.AgentSilent), a.site})
			b.silent = append(b.silent, a)
		}
	}
}

// findingEndpoint is the endpoint a probe finding is about ("" otherwise).
func findingEndpoint(f *mxv1.Finding) string {
	if f.GetSubjectKind() == mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT {
		return normEndpoint(f.GetSubject())
	}
	if ev := f.GetEvidence(); ev["origin"] == "presented" && ev["endpoint"] != "" {
		return normEndpoint(ev["endpoint"])
	}
	return ""
}

// certIdentity is the issuer+subject of a certificate finding, in
// Exchange's TlsCertificateName form (the thumbprint when unknown).
func certIdentity(f *mxv1.Finding) string {
	ev := f.GetEvidence()
	if ev["issuer"] == "" && ev["subject"] == "" {
		return f.GetSubject()
	}
	return "<I>" + ev["issuer"] + "<S>" + ev["subject"]
}

// ExchangeOnline is the remote name every Exchange Online host collapses to.
const ExchangeOnline = "Exchange Online"

var exoSuffixes = []string{".mail.protection.outlook.com", ".mail.onmicrosoft.com", ".protection.outlook.com", ".outlook.com"}

// remoteName collapses Exchange Online front ends (which rotate) to one name.
func remoteName(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
	for _, s := range exoSuffixes {
		if strings.HasSuffix(h, s) {
			return ExchangeOnline
		}
	}
	return h
}

// flowRemote names the other side of a protocol-log or queue finding.
func flowRemote(f *mxv1.Finding) string {
	ev := f.GetEvidence()
	var names []string
	for _, k := range []string{"remote_names", "next_hop", "lasterror_fqdn", "remote_endpoints"} {
		for _, n := range strings.Split(ev[k], ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, remoteName(n))
			}
		}
		if len(names) > 0 {
			break
		}
	}
	if slices.Contains(names, ExchangeOnline) {
		return ExchangeOnline
	}
	if len(names) == 0 {
		return strings.ToLower(f.GetSubject())
	}
	slices.Sort(names)
	return names[0]
}

// flowDirection: receive-side logs are inbound, everything else outbound.
func flowDirection(f *mxv1.Finding) mxv1.FlowDirection {
	if strings.EqualFold(f.GetEvidence()["direction"], "receive") {
		return mxv1.FlowDirection_FLOW_DIRECTION_INBOUND
	}
	return mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND
}
