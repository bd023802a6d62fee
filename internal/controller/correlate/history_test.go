package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate/fleetsim"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// history drives a fleet through random rounds of the changes a
// correlation round sees: results added (failing and clean probes of
// internal and remote endpoints, store certificates shared between hosts
// by thumbprint or identity, CERT_EXPIRING, protocol-log and queue
// failures with and without a linked local cause), results removed,
// severities changed (also below MinSeverity), results and agents' rounds
// re-sent unchanged, results aged stale, agent rounds that retire older results, and time
// passing (damping by time, silence, reopen
// window, retention).
type history struct {
	fl     *simFleet
	rng    *rand.Rand
	ids    []string
	stored map[string]*mxv1.Incident
}

func newHistory(seed uint64, agents, sites int) *history {
	h := &history{fl: newFleet(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stored: map[string]*mxv1.Incident{}}
	for a := range agents {
		id := fmt.Sprintf("h%03d", a)
		h.fl.agent(id, fmt.Sprintf("site%d", a%sites), id+".contoso.com")
		h.ids = append(h.ids, id)
	}
	return h
}

func (h *history) pick(n int) int { return h.rng.IntN(n) }

func (h *history) severity() mxv1.Severity {
	return []mxv1.Severity{mxv1.Severity_SEVERITY_INFO, warn, errS, errS, crit}[h.pick(5)]
}

// endpoint: another agent's host (peers probing a server) or a remote one.
func (h *history) endpoint() string {
	if h.pick(2) == 0 {
		return h.fl.Agents[h.ids[h.pick(len(h.ids))]].GetHostname() + ":25"
	}
	return fmt.Sprintf("mx%d.partner.example:25", h.pick(4))
}

func (h *history) remote() string {
	return []string{"tenant.mail.protection.outlook.com", "mx.fabrikam.com", "mx.tailspin.example"}[h.pick(3)]
}

// change applies one random change.
func (h *history) change() {
	id := h.ids[h.pick(len(h.ids))]
	host := h.fl.Agents[id].GetHostname()
	switch h.pick(14) {
	case 0: // a probe, failing or clean
		ep := h.endpoint()
		if h.pick(3) == 0 {
			h.fl.probe(id, ep)
			return
		}
		code := []finding.Code{finding.TLSHandshakeFailed, finding.SMTPStartTLSNotOffered}[h.pick(2)]
		h.fl.probe(id, ep, endpointFinding(code, ep, h.severity()))
	case 1: // a store certificate problem, its thumbprint shared by some hosts, with or without a linked queue symptom
		tp := fmt.Sprintf("%040X", h.pick(4))
		root := storeCertFinding(finding.CertNoPrivateKey, h.severity(), tp, fmt.Sprintf("CN=mail%d.contoso.com", h.pick(2)), "CN=Contoso CA", host, t0.Add(200*24*time.Hour))
		fs := []*mxv1.CheckResult{{Check: "certstore", Target: "store", Findings: []*mxv1.Finding{root}}}
		if h.pick(2) == 0 {
			sym := flowFinding(finding.QueueTLSFailure, "Outbound", h.remote())
			root.Explains = []*mxv1.FindingRef{{Code: sym.Code, Subject: sym.Subject}}
			sym.ExplainedBy = []*mxv1.FindingRef{{Code: root.Code, Subject: root.Subject}}
			fs = append(fs, &mxv1.CheckResult{Check: "queue", Target: "queues", Findings: []*mxv1.Finding{sym}})
		}
		for _, r := range fs {
			h.fl.report(id, r)
		}
	case 2: // a certificate expiring, identities shared across the fleet
		c := h.pick(3)
		f := storeCertFinding(finding.CertExpiring, warn, fmt.Sprintf("%036X%04d", h.pick(2), c), fmt.Sprintf("CN=svc%d.contoso.com", c), "CN=Contoso CA", host, t0.Add(20*24*time.Hour))
		h.fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: fmt.Sprintf("store%d", c), Findings: []*mxv1.Finding{f}})
	case 3: // a send or receive protocol-log failure without a local cause
		f := flowFinding(finding.LogTLSNegotiationFailed, fmt.Sprintf("Connector%d", h.pick(2)), h.remote())
		if h.pick(3) == 0 {
			f.Evidence["direction"] = "receive"
		}
		f.Severity = h.severity()
		h.fl.report(id, &mxv1.CheckResult{Check: "protocol_log", Target: "logs", Findings: []*mxv1.Finding{f}})
	case 4: // a clean store or queue
		h.fl.report(id, []*mxv1.CheckResult{{Check: "certstore", Target: "store"}, {Check: "queue", Target: "queues"}}[h.pick(2)])
	case 5, 6: // a result removed
		if k, ok := h.someResult(); ok {
			delete(h.fl.Results, k)
		}
	case 7: // a severity changed (re-committed)
		if k, ok := h.someResult(); ok {
			r := proto.CloneOf(h.fl.Results[k].GetResult())
			for _, f := range r.GetFindings() {
				f.Severity = h.severity()
			}
			r.Status = mxv1.CheckStatus_CHECK_STATUS_UNSPECIFIED
			h.fl.report(k.Agent, r)
		}
	case 9: // other mail systems' TLS-RPT reports: about an MX (an agent's host or a remote one) or about the domain
		r := &mxv1.CheckResult{Check: "tlsrpt", Target: fmt.Sprintf("report%d", h.pick(3)), StartedAt: timestamppb.New(h.fl.Now)}
		if h.pick(3) > 0 {
			r.Findings = []*mxv1.Finding{endpointFinding("TLSRPT_FAILURES", h.endpoint(), h.severity())}
		} else if h.pick(2) == 0 {
			r.Findings = []*mxv1.Finding{{Code: "TLSRPT_POLICY_FETCH_FAILED", Severity: h.severity(), Subject: "contoso.com", SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_DOMAIN}}
		}
		h.fl.Results[fleetsim.Key{Agent: tlsrpt.AgentID, Check: r.Check, Target: r.Target}] = &mxv1.StoredResult{AgentId: tlsrpt.AgentID, Result: r, CommittedAt: timestamppb.New(h.fl.Now)}
	case 10: // a result of an agent that never said Hello
		ep := h.endpoint()
		r := &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://" + ep, StartedAt: timestamppb.New(h.fl.Now), Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
			Findings: []*mxv1.Finding{endpointFinding(finding.TLSHandshakeFailed, ep, h.severity())}}
		h.fl.Results[fleetsim.Key{Agent: "ghost", Check: r.Check, Target: r.Target}] = &mxv1.StoredResult{AgentId: "ghost", Result: r, CommittedAt: timestamppb.New(h.fl.Now)}
	case 11: // a result re-sent unchanged (the same findings, committed again)
		if k, ok := h.someResult(); ok && h.fl.Agents[k.Agent] != nil {
			r := proto.CloneOf(h.fl.Results[k].GetResult())
			r.StartedAt = nil
			h.fl.report(k.Agent, r)
		}
	case 13: // a result aged like the store ages TLS-RPT results: stale_since set, committed_at kept
		if k, ok := h.someResult(); ok && h.fl.Results[k].GetStaleSince() == nil {
			sr := proto.CloneOf(h.fl.Results[k])
			sr.StaleSince = timestamppb.New(h.fl.Now)
			h.fl.Results[k] = sr
		}
	case 12: // an agent's round re-sent unchanged: every result again, then the round
		for _, k := range h.fl.Keys() {
			if k.Agent == id {
				r := proto.CloneOf(h.fl.Results[k].GetResult())
				r.StartedAt = nil
				h.fl.report(k.Agent, r)
			}
		}
		a := proto.CloneOf(h.fl.Agents[id])
		a.LastBatchAt = timestamppb.New(h.fl.Now)
		h.fl.Agents[id] = a
	case 8: // an agent round: results older than it are retired
		a := proto.CloneOf(h.fl.Agents[id])
		a.LastSeen = timestamppb.New(h.fl.Now)
		a.LastBatchAt = timestamppb.New(h.fl.Now)
		h.fl.Agents[id] = a
	}
}

func (h *history) someResult() (fleetsim.Key, bool) {
	if len(h.fl.Results) == 0 {
		return fleetsim.Key{}, false
	}
	keys := h.fl.Keys()
	return keys[h.pick(len(keys))], true
}

// advance moves the clock: mostly seconds, sometimes past SilentAfter, the
// reopen window or retention of the config the tests use.
func (h *history) advance() {
	d := time.Duration(1+h.pick(60)) * time.Second
	switch h.pick(20) {
	case 0:
		d = 4 * time.Minute
	case 1:
		d = 2 * time.Hour
	}
	h.fl.Now = h.fl.Now.Add(d)
}

// historyConfig makes time matter within a short history: damping by
// observations and by time, silence, reopen window and retention all
// happen within a few hundred rounds.
var historyConfig = Config{OpenAfterObservations: 2, OpenAfter: 3 * time.Minute, ResolveAfterClean: 2, ReopenWindow: time.Hour, SilentAfter: 3 * time.Minute, Retention: 3 * time.Hour, MaxMembers: 20}

func (h *history) incidents() []*mxv1.Incident {
	var incs []*mxv1.Incident
	for _, k := range sortedKeys(h.stored) {
		incs = append(incs, h.stored[k])
	}
	return incs
}

// apply stores an output like the FSM does: compare-and-set on sequence,
// checking that upserts are successors of the stored incidents.
func (h *history) apply(t testing.TB, out Output) {
	t.Helper()
	for _, u := range out.Upserts {
		old := h.stored[u.GetId()]
		if u.GetRevision() != old.GetRevision()+1 {
			t.Fatalf("upsert %s at revision %d, stored %d", u.GetId(), u.GetRevision(), old.GetRevision())
		}
		h.stored[u.GetId()] = u
	}
	for _, d := range out.Deletes {
		if old := h.stored[d.GetId()]; old == nil || old.GetSequence() != d.GetSequence() {
			t.Fatalf("delete %s at sequence %d, stored %v", d.GetId(), d.GetSequence(), old.GetSequence())
		}
		delete(h.stored, d.GetId())
	}
}

func equalOutput(t testing.TB, a, b Output) bool {
	t.Helper()
	return string(marshalOut(t, a)) == string(marshalOut(t, b)) && a.Candidates == b.Candidates && slices.Equal(a.Unobserved, b.Unobserved)
}

// Random histories: every round's output is the same for the input in any
// order, and rounds over the same data at the same time reach a fixed
// point (output depends on the state, not on how it was reached).
func TestRandomHistoriesFullRound(t *testing.T) {
	seeds, rounds := 4, 200
	if testing.Short() {
		seeds, rounds = 2, 100
	}
	var opened, scopes = 0, map[mxv1.IncidentScope]bool{}
	for seed := range seeds {
		h := newHistory(uint64(seed), 24, 3)
		for round := range rounds {
			h.advance()
			for range 1 + h.pick(6) {
				h.change()
			}
			in := h.fl.input(h.incidents())
			out := Correlate(in, historyConfig)
			sh := Input{Now: in.Now, Agents: slices.Clone(in.Agents), Results: slices.Clone(in.Results), Incidents: slices.Clone(in.Incidents)}
			h.rng.Shuffle(len(sh.Agents), func(i, j int) { sh.Agents[i], sh.Agents[j] = sh.Agents[j], sh.Agents[i] })
			h.rng.Shuffle(len(sh.Results), func(i, j int) { sh.Results[i], sh.Results[j] = sh.Results[j], sh.Results[i] })
			h.rng.Shuffle(len(sh.Incidents), func(i, j int) { sh.Incidents[i], sh.Incidents[j] = sh.Incidents[j], sh.Incidents[i] })
			if !equalOutput(t, out, Correlate(sh, historyConfig)) {
				t.Fatalf("seed %d round %d: output depends on input order", seed, round)
			}
			h.apply(t, out)
			for _, inc := range h.stored {
				if inc.GetState() == stateOpen {
					opened++
					scopes[inc.GetScope()] = true
				}
			}
			// Rounds over the same data at the same time settle: a change
			// can uncover one more (a flap's pending occurrence dropped makes
			// the resolved occurrence current again), then nothing moves.
			settled := false
			for range 3 {
				again := Correlate(h.fl.input(h.incidents()), historyConfig)
				if again.Empty() {
					settled = true
					break
				}
				h.apply(t, again)
			}
			if !settled {
				t.Fatalf("seed %d round %d: rounds over the same data keep changing incidents:\n%s", seed, round, dump(h.incidents()))
			}
		}
	}
	// The histories reach every scope (else the property says little).
	for _, s := range []mxv1.IncidentScope{mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE,
		mxv1.IncidentScope_INCIDENT_SCOPE_SITE, mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION,
		mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON} {
		if !scopes[s] {
			t.Errorf("no open %v incident in any history", s)
		}
	}
	if opened == 0 {
		t.Fatal("no incident opened")
	}
}
