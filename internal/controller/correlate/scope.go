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
	// fingerprint, if set, is incident.Fingerprint of key (kept by
	// incremental rounds).
	fingerprint string
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

// classify assigns every group to a bucket (see the package doc): each
// group's route (route.go) is decided from the group and what the round
// knows about its peers, in the order the classifiers run.
func (v *view) classify(groups []*group) *buckets {
	bs := &buckets{m: map[bucketKey]*bucket{}}
	var certGroups, endpointGroups, flowGroups []*group
	for _, g := range groups {
		switch g.kind {
		case kindCert:
			certGroups = append(certGroups, g)
		case kindFlow:
			flowGroups = append(flowGroups, g)
		case kindEndpoint:
			endpointGroups = append(endpointGroups, g)
		default:
			bs.get(g.directRoute().key).apply(g, g.directRoute())
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
	hostsBy := func(key func(*group) certKey) map[certKey]map[string]bool {
		m := map[certKey]map[string]bool{}
		for _, g := range gs {
			k := key(g)
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][g.agent.host] = true
		}
		return m
	}
	byTP := hostsBy((*group).tpKey)
	byID := hostsBy((*group).idKey)
	for _, g := range gs {
		r := g.certRoute(len(byTP[g.tpKey()]), len(byID[g.idKey()]))
		bs.get(r.key).apply(g, r)
	}
}

// classifyFlows: protocol-log and queue failures without a local root
// cause. Failing from every site that observes flows (two or more): the
// remote side. Otherwise one direction incident per host.
func (v *view) classifyFlows(bs *buckets, gs []*group) {
	sitesBy := map[flowKey]map[string]bool{}
	for _, g := range gs {
		k := g.flowKey()
		if sitesBy[k] == nil {
			sitesBy[k] = map[string]bool{}
		}
		sitesBy[k][g.agent.site] = true
	}
	for _, g := range gs {
		r := g.flowRoute(len(sitesBy[g.flowKey()]), len(v.flowSites))
		bs.get(r.key).apply(g, r)
	}
}

// classifyEndpoints: findings about an SMTP endpoint seen by probes.
func (v *view) classifyEndpoints(bs *buckets, gs []*group) {
	// Anchors: server and certificate incidents per host, to fold peers'
	// failing probes of that host into, with their severity before any
	// peer joins.
	anchors := map[string][]bucketKey{}
	anchorWorst := map[bucketKey]mxv1.Severity{}
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
		anchorWorst[k] = worst(b.members)
	}
	// Senders' reports come last, so that the agents' probes of a host have
	// built their incidents for it when a report looks for one.
	gs = slices.Clone(gs)
	slices.SortStableFunc(gs, func(a, b *group) int { return cmp.Compare(b2i(a.agent.outside), b2i(b.agent.outside)) })
	failing := map[epKey]map[string]bool{} // agent ids failing with this code
	for _, g := range gs {
		k := g.epKey()
		if failing[k] == nil {
			failing[k] = map[string]bool{}
		}
		failing[k][g.agent.id] = true
	}
	// Per (endpoint, code), computed once: sites where every prober fails
	// with that code, and sites where a prober succeeds.
	sv := map[epKey]siteView{}
	inbound := newInboundIndex()
	for _, g := range gs {
		k := g.epKey()
		s, ok := sv[k]
		if !ok {
			s = newSiteView(v.probes[g.ep], func(id string) bool { return failing[k][id] })
			sv[k] = s
		}
		r := g.endpointRoute(s, len(failing[k]), len(v.probes[g.ep]),
			func() (bucketKey, bool) { return bestAnchor(anchors[g.target], anchorWorst) },
			func() (bucketKey, bool) { return inbound.best(g.target + "/" + g.ep) })
		bs.get(r.key).apply(g, r)
		inbound.add(g, r)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bestAnchor is the worst of ks by sev, ties to the smallest key.
func bestAnchor(ks []bucketKey, sev map[bucketKey]mxv1.Severity) (bucketKey, bool) {
	if len(ks) == 0 {
		return bucketKey{}, false
	}
	best := ks[0]
	for _, k := range ks[1:] {
		if c := cmp.Compare(sev[k], sev[best]); c > 0 || c == 0 && lessKey(k, best) {
			best = k
		}
	}
	return best, true
}

func worst(ms []member) mxv1.Severity {
	var s mxv1.Severity
	for _, m := range ms {
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
			b := bs.get(silentKey(a.site))
			b.silent = append(b.silent, a)
		}
	}
}

func silentKey(site string) bucketKey {
	return bucketKey{mxv1.IncidentScope_INCIDENT_SCOPE_SITE, string(finding.AgentSilent), site}
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
