// Package fleetsim generates a fleet's agents and latest results at scale,
// as the store holds them, for the correlation benchmarks (go test -bench
// in package correlate, and mxbench -mode correlate): agents of 20 checks
// in 10 sites; per agent 10 probes failing to 50 remote endpoints
// (remote-target incidents), a keyless certificate with a linked queue
// symptom (server incidents) and CERT_EXPIRING of 8 identities every agent
// holds (fleet-horizon incidents). Findings are built with the codes,
// subjects and evidence keys the agent's rules emit.
package fleetsim

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Key names one agent's latest result of one check against one target.
type Key struct{ Agent, Check, Target string }

func (k Key) compare(o Key) int {
	return cmp.Or(cmp.Compare(k.Agent, o.Agent), cmp.Compare(k.Check, o.Check), cmp.Compare(k.Target, o.Target))
}

// Fleet is a simulated fleet: agents and their latest results. Like the
// store, it replaces a stored agent or result on every change and never
// modifies one.
type Fleet struct {
	Agents  map[string]*mxv1.Agent
	Results map[Key]*mxv1.StoredResult
	// Now is the time the next results are committed at.
	Now time.Time
	// base: each key's first result with findings (what a clean result
	// comes back to).
	base map[Key]*mxv1.CheckResult
}

// New returns an empty fleet whose clock starts at start.
func New(start time.Time) *Fleet {
	return &Fleet{Agents: map[string]*mxv1.Agent{}, Results: map[Key]*mxv1.StoredResult{}, Now: start, base: map[Key]*mxv1.CheckResult{}}
}

// Agent adds (or replaces) an agent.
func (f *Fleet) Agent(id, site, host string) {
	f.Agents[id] = &mxv1.Agent{AgentId: id, Site: site, Hostname: host, FirstSeen: timestamppb.New(f.Now), LastSeen: timestamppb.New(f.Now)}
}

// Report stores one agent's result at the current time (a committed
// batch): its status follows its worst finding unless set.
func (f *Fleet) Report(agentID string, r *mxv1.CheckResult) {
	if a := f.Agents[agentID]; a != nil { // else TLS-RPT's observer, or an agent that never said Hello
		a = proto.CloneOf(a)
		a.LastSeen = timestamppb.New(f.Now)
		f.Agents[agentID] = a
	}
	if r.StartedAt == nil {
		r.StartedAt = timestamppb.New(f.Now.Add(-2 * time.Second))
	}
	if r.Status == mxv1.CheckStatus_CHECK_STATUS_UNSPECIFIED {
		r.Status = mxv1.CheckStatus_CHECK_STATUS_OK
		if checks.WorstSeverity(r.Findings) >= mxv1.Severity_SEVERITY_ERROR {
			r.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
		}
	}
	k := Key{agentID, r.Check, r.Target}
	if f.base[k] == nil && len(r.Findings) > 0 {
		f.base[k] = r
	}
	f.Results[k] = &mxv1.StoredResult{AgentId: agentID, Result: r, CommittedAt: timestamppb.New(f.Now)}
}

// Probe reports an SMTP probe result of agentID to endpoint (host:port).
func (f *Fleet) Probe(agentID, endpoint string, fs ...*mxv1.Finding) {
	f.Report(agentID, &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://" + endpoint, Findings: fs})
}

// Keys lists the results' keys, sorted.
func (f *Fleet) Keys() []Key { return slices.SortedFunc(maps.Keys(f.Results), Key.compare) }

// Scale builds a fleet of n open findings (n/20 agents) at start.
func Scale(n int, start time.Time) *Fleet {
	fl := New(start)
	for a := range n / 20 {
		id := fmt.Sprintf("agent%05d", a)
		site := fmt.Sprintf("site%02d", a%10)
		host := id + ".contoso.com"
		fl.Agent(id, site, host)
		for c := range 10 {
			ep := fmt.Sprintf("mx%02d.partner.example:25", (a+c)%50)
			fl.Probe(id, ep, EndpointFinding(finding.TLSHandshakeFailed, ep, mxv1.Severity_SEVERITY_ERROR))
		}
		tp := fmt.Sprintf("%040X", a)
		root := StoreCertFinding(finding.CertNoPrivateKey, mxv1.Severity_SEVERITY_CRITICAL, tp, "CN="+host, "CN=Contoso CA", host, start.Add(200*24*time.Hour))
		sym := FlowFinding(finding.QueueTLSFailure, "Outbound", "tenant.mail.protection.outlook.com")
		root.Explains = []*mxv1.FindingRef{{Code: sym.Code, Subject: sym.Subject}}
		sym.ExplainedBy = []*mxv1.FindingRef{{Code: root.Code, Subject: root.Subject}}
		fl.Report(id, &mxv1.CheckResult{Check: "certstore", Target: "store", Findings: []*mxv1.Finding{root}})
		fl.Report(id, &mxv1.CheckResult{Check: "queue", Target: "queues", Findings: []*mxv1.Finding{sym}})
		for c := range 8 {
			f := StoreCertFinding(finding.CertExpiring, mxv1.Severity_SEVERITY_WARNING, fmt.Sprintf("%038X%02d", a, c), fmt.Sprintf("CN=svc%d.contoso.com", c), "CN=Contoso CA", host, start.Add(20*24*time.Hour))
			fl.Report(id, &mxv1.CheckResult{Check: "certstore", Target: fmt.Sprintf("store%d", c), Findings: []*mxv1.Finding{f}})
		}
	}
	return fl
}

// Churn changes share of the fleet's results (of keys), as newly
// committed batches: of every hundred results one is re-committed with
// its findings at another severity, removed (drop) or re-committed clean,
// or added back clean when it was removed, so a round sees findings
// added, removed and at other severities. It returns the keys it changed
// (a key at most once).
func (f *Fleet) Churn(keys []Key, rng *rand.Rand, share float64, drop bool) []Key {
	changed := map[Key]bool{}
	for range int(float64(len(keys)) * share) {
		k := keys[rng.IntN(len(keys))]
		changed[k] = true
		r := f.Results[k]
		switch {
		case r == nil:
			f.Report(k.Agent, &mxv1.CheckResult{Check: k.Check, Target: k.Target})
		case rng.IntN(3) == 0:
			if drop {
				delete(f.Results, k)
			} else {
				f.Report(k.Agent, &mxv1.CheckResult{Check: k.Check, Target: k.Target})
			}
		default:
			cr := proto.CloneOf(r.GetResult())
			for _, fd := range cr.GetFindings() {
				fd.Severity = []mxv1.Severity{mxv1.Severity_SEVERITY_WARNING, mxv1.Severity_SEVERITY_ERROR, mxv1.Severity_SEVERITY_CRITICAL}[rng.IntN(3)]
			}
			f.Report(k.Agent, cr)
		}
	}
	return slices.SortedFunc(maps.Keys(changed), Key.compare)
}

// Round is one agent's round: every one of its results.
type Round struct {
	Agent   string
	Results []*mxv1.CheckResult
}

// ChurnRounds re-commits the rounds of share of the agents (a random
// sample, every result of each, as agents send their rounds), every
// result changed: findings at another severity (two in three), clean
// (one in three), or back with findings when it was clean. It returns
// the rounds, by agent.
func (f *Fleet) ChurnRounds(rng *rand.Rand, share float64) []Round {
	ids := slices.Sorted(maps.Keys(f.Agents))
	n := max(1, int(float64(len(ids))*share))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = slices.Sorted(slices.Values(ids[:n]))
	byAgent := map[string][]Key{}
	for k := range f.Results {
		if _, ok := slices.BinarySearch(ids, k.Agent); ok {
			byAgent[k.Agent] = append(byAgent[k.Agent], k)
		}
	}
	out := make([]Round, 0, len(ids))
	for _, id := range ids {
		keys := slices.SortedFunc(slices.Values(byAgent[id]), Key.compare)
		rd := Round{Agent: id}
		for _, k := range keys {
			f.change(k, rng)
			rd.Results = append(rd.Results, f.Results[k].GetResult())
		}
		out = append(out, rd)
	}
	return out
}

// ResendRounds re-commits the rounds of share of the agents (a random
// sample, every result of each), as a fleet in a steady state sends
// them: each result with the findings it had (a new result, committed
// now), except that changed of them (a share) come back at another
// severity, clean, or with findings again as in ChurnRounds. It returns
// the keys it re-committed, sorted.
func (f *Fleet) ResendRounds(rng *rand.Rand, share, changed float64) []Key {
	ids := slices.Sorted(maps.Keys(f.Agents))
	n := max(1, int(float64(len(ids))*share))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	pick := map[string]bool{}
	for _, id := range ids[:n] {
		pick[id] = true
	}
	var keys []Key
	for k := range f.Results {
		if pick[k.Agent] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, Key.compare)
	for _, k := range keys {
		if rng.Float64() >= changed {
			cr := proto.CloneOf(f.Results[k].GetResult())
			cr.StartedAt = nil
			f.Report(k.Agent, cr)
			continue
		}
		f.change(k, rng)
	}
	return keys
}

// change reports k's result changed as ChurnRounds changes it: a clean
// result fails again as it first did, else a third become clean and the
// rest come back at another severity.
func (f *Fleet) change(k Key, rng *rand.Rand) {
	r := f.Results[k].GetResult()
	switch {
	case len(r.GetFindings()) == 0 && f.base[k] != nil:
		f.Report(k.Agent, reseverity(f.base[k], rng))
	case rng.IntN(3) == 0:
		f.Report(k.Agent, &mxv1.CheckResult{Check: k.Check, Target: k.Target})
	default:
		f.Report(k.Agent, reseverity(r, rng))
	}
}

// reseverity is r with its findings at random severities (status and
// start time set again by Report).
func reseverity(r *mxv1.CheckResult, rng *rand.Rand) *mxv1.CheckResult {
	cr := proto.CloneOf(r)
	cr.Status, cr.StartedAt = mxv1.CheckStatus_CHECK_STATUS_UNSPECIFIED, nil
	for _, fd := range cr.GetFindings() {
		fd.Severity = []mxv1.Severity{mxv1.Severity_SEVERITY_WARNING, mxv1.Severity_SEVERITY_ERROR, mxv1.Severity_SEVERITY_CRITICAL}[rng.IntN(3)]
	}
	return cr
}

// EndpointFinding is what diagnose.SMTPProbe emits for a failing probe.
func EndpointFinding(code finding.Code, endpoint string, sev mxv1.Severity) *mxv1.Finding {
	return &mxv1.Finding{Code: string(code), Severity: sev, Subject: endpoint, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_ENDPOINT,
		Summary:     fmt.Sprintf("%s: %s", endpoint, code),
		Evidence:    map[string]string{"endpoint": endpoint, "phase": "ehlo"},
		Remediation: fmt.Sprintf("On the server behind %s: check its certificate and connector.", endpoint)}
}

// StoreCertFinding is what certdiag.CertStore emits for a store certificate.
func StoreCertFinding(code finding.Code, sev mxv1.Severity, tp, subject, issuer, host string, notAfter time.Time) *mxv1.Finding {
	return &mxv1.Finding{Code: string(code), Severity: sev, Subject: tp, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE,
		Summary: fmt.Sprintf("Certificate %s (%s) on %s: %s", tp, subject, host, code),
		Evidence: map[string]string{"thumbprint": tp, "subject": subject, "issuer": issuer, "origin": "store", "store": "windows:LocalMachine\\My",
			"not_after": notAfter.UTC().Format(time.RFC3339)},
		Remediation: fmt.Sprintf("On %s: renew or replace certificate %s.", host, tp)}
}

// FlowFinding is what the protocol-log/queue rules emit for a send failure
// to Exchange Online (no local cause linked).
func FlowFinding(code finding.Code, connector, remoteName string) *mxv1.Finding {
	ev := map[string]string{"connector": connector, "direction": "send", "remote_names": remoteName, "remote_endpoints": "104.47.1.33", "sspi_status": "SocketError"}
	subject := connector
	kind := mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR
	if code == finding.QueueTLSFailure {
		ev = map[string]string{"next_hop": remoteName, "last_error": checktest.SeedLastError}
		subject, kind = `EDGE\3`, mxv1.SubjectKind_SUBJECT_KIND_QUEUE
	}
	return &mxv1.Finding{Code: string(code), Severity: mxv1.Severity_SEVERITY_ERROR, Subject: subject, SubjectKind: kind,
		Summary: fmt.Sprintf("%s to %s", code, remoteName), Evidence: ev, Remediation: "Fix the TLS failure to " + remoteName + "."}
}
