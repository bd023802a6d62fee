package store

import (
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/batchpb"
)

// resultKey identifies the latest result of one check against one target by one agent.
type resultKey struct{ agent, check, target string }

// State is the FSM's in-memory state. Stored messages are immutable once
// inserted: updates replace them.
type State struct {
	mu      sync.RWMutex
	agents  map[string]*mxv1.Agent
	results map[resultKey]*storedResult
	nodes   map[string]*mxv1.NodeInfo
	auth    authState
	// incidents (incident_state.go).
	incidents incidentState
	// notify (notify_state.go).
	notify notifyState
	// events: the incident change feed (events_state.go).
	events *eventState
	// idempotency: clients' keys for incident writes (idempotency_state.go).
	idempotency idempotencyState
	// tlsrpt: TLS-RPT reports (tlsrpt_state.go); its own lock.
	tlsrpt *tlsrptState
	// changes: the keys of agents, results and incidents changed, for
	// the correlation loop (correlation_feed.go).
	changes changeLog
}

func newState() *State {
	return &State{agents: map[string]*mxv1.Agent{}, results: map[resultKey]*storedResult{}, nodes: map[string]*mxv1.NodeInfo{}, auth: newAuthState(), incidents: newIncidentState(), notify: newNotifyState(), events: newEventState(), idempotency: newIdempotencyState(), tlsrpt: newTLSRPTState(), changes: newChangeLog()}
}

func (s *State) registerNode(n *mxv1.NodeInfo) {
	if n.GetNodeId() == "" {
		return
	}
	s.mu.Lock()
	s.nodes[n.GetNodeId()] = n
	s.mu.Unlock()
}

// Node returns the registered addresses of a controller node, or nil.
func (s *State) Node(id string) *mxv1.NodeInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes[id]
}

func (s *State) registerAgent(h *mxv1.Hello, at *timestamppb.Timestamp) {
	if h.GetAgentId() == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.agents[h.GetAgentId()]
	site := h.GetSite()
	if e, ok := s.auth.enrolled[h.GetAgentId()]; ok {
		site = e.GetSite()
	}
	a := &mxv1.Agent{
		AgentId:   h.GetAgentId(),
		Site:      site,
		Hostname:  h.GetHostname(),
		Roles:     h.GetRoles(),
		Version:   h.GetVersion(),
		Labels:    h.GetLabels(),
		FirstSeen: at,
		LastSeen:  at,
	}
	if old != nil {
		// A Hello never changes an agent's site: its enrollment does (the
		// ingest layer refuses a Hello that disagrees).
		a.Site = old.GetSite()
		a.FirstSeen = old.GetFirstSeen()
		a.LastSeq = old.GetLastSeq()
		a.ResultsCommitted = old.GetResultsCommitted()
		a.LastBatchAt = old.GetLastBatchAt()
		a.SpoolLoss = old.GetSpoolLoss()
		a.BatchesCommitted = old.GetBatchesCommitted()
	}
	s.agents[a.AgentId] = a
	s.changes.agent(a.AgentId)
}

// ingest applies one agent batch; false when it is a replay.
func (s *State) ingest(ab *mxv1.AgentBatch, at *timestamppb.Timestamp) bool {
	id := ab.GetAgentId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ingestAgentLocked(id, ab.GetBatch().GetSeq(), len(ab.GetBatch().GetResults()), ab.GetBatch().GetSpoolLoss(), at) {
		return false
	}
	for _, r := range ab.GetBatch().GetResults() {
		k := resultKey{id, r.GetCheck(), r.GetTarget()}
		prev := s.results[k] // one lookup: hashing the key is a good part of applying a batch
		s.results[k] = storeDecoded(id, r, prev, at)
		s.changes.result(k)
	}
	return true
}

// ingestIndexed applies one agent batch of an IngestBatches entry read by
// batchpb.IndexIngest, as ingest applies its decoding: the same state,
// each result kept encoded until read (stored_result.go).
func (s *State) ingestIndexed(ab *batchpb.IndexedBatch, at *timestamppb.Timestamp) bool {
	id := ab.AgentID
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ingestAgentLocked(id, ab.Seq, len(ab.Results), ab.SpoolLoss, at) {
		return false
	}
	for i := range ab.Results {
		r := &ab.Results[i]
		k := resultKey{id, r.Check, r.Target}
		prev := s.results[k]
		if r.Decoded != nil {
			s.results[k] = storeDecoded(id, r.Decoded, prev, at)
		} else {
			s.results[k] = encodedResult(id, r.Encoded, r.Status, at, historyAfter(prev.getHistory(), r.Status, r.WarningCodes, at))
		}
		s.changes.result(k)
	}
	return true
}

// ingestAgentLocked records a batch of n results on its agent; false when
// it is a replay (nothing changed).
func (s *State) ingestAgentLocked(id string, seq uint64, n int, loss *mxv1.SpoolLoss, at *timestamppb.Timestamp) bool {
	old := s.agents[id]
	if old != nil && seq <= old.GetLastSeq() {
		return false
	}
	var a *mxv1.Agent
	if old != nil {
		a = copyAgent(old)
	} else {
		a = &mxv1.Agent{AgentId: id, FirstSeen: at}
	}
	a.LastSeq = seq
	a.LastSeen, a.LastBatchAt = at, at
	a.ResultsCommitted += uint64(n)
	a.BatchesCommitted++
	if loss != nil {
		// Cumulative on the agent: the newest report is the total.
		a.SpoolLoss = loss
	}
	s.agents[id] = a
	s.changes.agent(id)
	return true
}

// storeDecoded is the stored form of decoded result r of agent id, which
// replaces prev.
func storeDecoded(id string, r *mxv1.CheckResult, prev *storedResult, at *timestamppb.Timestamp) *storedResult {
	if r.GetCertificatesUnchanged() && len(r.GetCertificates()) == 0 {
		// The agent left out a listing it sent before: keep the stored
		// one (the same on every replica, so this stays deterministic).
		r.Certificates = prev.get().GetResult().GetCertificates()
	}
	if r.GetExchangeInventoryUnchanged() && len(r.GetExchangeInventory()) == 0 {
		r.ExchangeInventory = prev.get().GetResult().GetExchangeInventory()
	}
	return newDecodedResult(id, r, at, nextHistory(prev.getHistory(), r, at))
}

// Agent returns one agent, or nil.
func (s *State) Agent(id string) *mxv1.Agent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agents[id]
}

// Agents lists agents sorted by site then id; site "" means all sites.
func (s *State) Agents(site string) []*mxv1.Agent {
	s.mu.RLock()
	out := make([]*mxv1.Agent, 0, len(s.agents))
	for _, a := range s.agents {
		if site == "" || strings.EqualFold(a.GetSite(), site) {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetSite() != out[j].GetSite() {
			return out[i].GetSite() < out[j].GetSite()
		}
		return out[i].GetAgentId() < out[j].GetAgentId()
	})
	return out
}

// FindingFilter selects findings; zero fields match everything.
type FindingFilter struct {
	Site, AgentID, Code string
	MinSeverity         mxv1.Severity
}

// Findings lists the findings in every agent's latest results, worst first,
// then by agent, check, target and code.
func (s *State) Findings(f FindingFilter) []*mxv1.ObservedFinding {
	s.mu.RLock()
	var out []*mxv1.ObservedFinding
	for k, sr := range s.results {
		if f.AgentID != "" && k.agent != f.AgentID {
			continue
		}
		a := s.agents[k.agent]
		if f.Site != "" && !strings.EqualFold(a.GetSite(), f.Site) {
			continue
		}
		res := sr.get().GetResult()
		for _, fd := range res.GetFindings() {
			if f.Code != "" && !strings.EqualFold(fd.GetCode(), f.Code) {
				continue
			}
			if fd.GetSeverity() < f.MinSeverity {
				continue
			}
			out = append(out, &mxv1.ObservedFinding{
				AgentId:    k.agent,
				Site:       a.GetSite(),
				Hostname:   a.GetHostname(),
				Check:      k.check,
				Target:     k.target,
				Finding:    fd,
				ObservedAt: res.GetStartedAt(),
			})
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Finding.GetSeverity() != y.Finding.GetSeverity() {
			return x.Finding.GetSeverity() > y.Finding.GetSeverity()
		}
		for _, p := range [][2]string{{x.AgentId, y.AgentId}, {x.Check, y.Check}, {x.Target, y.Target}, {x.Finding.GetCode(), y.Finding.GetCode()}, {x.Finding.GetSubject(), y.Finding.GetSubject()}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
	return out
}

// snapshot returns the whole state as a message, sorted, sharing the
// immutable stored messages.
func (s *State) snapshot() *mxv1.StateSnapshot {
	s.mu.RLock()
	snap := &mxv1.StateSnapshot{
		Agents:  make([]*mxv1.Agent, 0, len(s.agents)),
		Results: make([]*mxv1.StoredResult, 0, len(s.results)),
		Nodes:   make([]*mxv1.NodeInfo, 0, len(s.nodes)),
	}
	for _, n := range s.nodes {
		snap.Nodes = append(snap.Nodes, n)
	}
	keys := make([]resultKey, 0, len(s.results))
	for _, a := range s.agents {
		snap.Agents = append(snap.Agents, a)
	}
	for k := range s.results {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].agent != keys[j].agent {
			return keys[i].agent < keys[j].agent
		}
		if keys[i].check != keys[j].check {
			return keys[i].check < keys[j].check
		}
		return keys[i].target < keys[j].target
	})
	for _, k := range keys {
		snap.Results = append(snap.Results, s.results[k].peek())
	}
	s.mu.RUnlock()
	sort.Slice(snap.Agents, func(i, j int) bool { return snap.Agents[i].GetAgentId() < snap.Agents[j].GetAgentId() })
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].GetNodeId() < snap.Nodes[j].GetNodeId() })
	s.mu.RLock()
	snap.Tokens, snap.RevokedAgents = s.auth.snapshot()
	snap.EnrolledAgents = s.auth.enrolledSnapshot()
	snap.Incidents = s.incidents.snapshot()
	snap.Deliveries, snap.NotifyCursors, snap.NotifyTargets = s.notify.snapshot()
	s.snapshotEventsLocked(snap)
	snap.IdempotencyRecords = append([]*mxv1.IdempotencyRecord(nil), s.idempotency.order...)
	s.mu.RUnlock()
	snap.TlsReports = s.tlsrpt.snapshot()
	return snap
}

// restore replaces the state with a snapshot's.
func (s *State) restore(snap *mxv1.StateSnapshot) {
	agents := make(map[string]*mxv1.Agent, len(snap.GetAgents()))
	for _, a := range snap.GetAgents() {
		agents[a.GetAgentId()] = a
	}
	results := make(map[resultKey]*storedResult, len(snap.GetResults()))
	for _, r := range snap.GetResults() {
		results[resultKey{r.GetAgentId(), r.GetResult().GetCheck(), r.GetResult().GetTarget()}] = decodedResult(r)
	}
	nodes := make(map[string]*mxv1.NodeInfo, len(snap.GetNodes()))
	for _, n := range snap.GetNodes() {
		nodes[n.GetNodeId()] = n
	}
	auth := authFromSnapshot(snap)
	incidents := incidentsFromSnapshot(snap)
	notify := notifyFromSnapshot(snap)
	idem := idempotencyFromSnapshot(snap)
	s.tlsrpt.restore(snap)
	s.mu.Lock()
	s.idempotency = idem
	s.agents, s.results, s.nodes, s.auth = agents, results, nodes, auth
	s.incidents = incidents
	s.notify = notify
	s.changes.replaced()
	s.mu.Unlock()
	s.restoreEvents(snap)
}
