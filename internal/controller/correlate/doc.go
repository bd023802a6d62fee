// Package correlate is the correlation engine: it turns every agent's latest
// findings into a few incidents, each with a scope, a root cause and a fix.
//
// # Design
//
// Correlate is a pure function of (agents, latest results, current incidents,
// leader time, config) to a set of incident changes. It reads no clock,
// draws no random numbers, and sorts every input before use and every
// output before returning, so the result does not depend on the order in
// which agents' batches arrived. It runs on the raft leader only (Loop, from
// store.OnLeadership); its changes go through raft as one CorrelateIncidents
// command (which the store writes as a delta against the stored incidents
// when it can: store/incident_delta.go) whose upserts are compare-and-set
// on each incident's sequence, so
// incidents and sequences survive failover unchanged and a deposed leader's
// round is rejected.
//
// A round:
//
//  1. Observations: every finding at WARNING or worse in every agent's latest
//     result of a check it still runs (a result older than the agent's
//     latest round is retired: it counts as clean from then on), with the
//     agent's site and host; evidence of agents silent past
//     SilentAfter is marked stale, and each site with silent agents gets an
//     AGENT_SILENT incident.
//  2. Root-cause folding per agent: a finding explained (explained_by) by a
//     root cause found on the same agent becomes a symptom of that root
//     and never an incident of its own.
//  3. Scopes, from the roots:
//     - certificate: the same store certificate problem (thumbprint, else
//     issuer+subject) on two or more hosts;
//     - server: a host-local cause on one host; failing probes of peers to
//     that host's endpoint fold into it;
//     - site: every prober of a site fails to the same targets with the same
//     code while probers in other sites succeed;
//     - remote target: a remote endpoint or service (Exchange Online names
//     collapse to one) that fails from every site that observes it;
//     - direction: a host's send (or receive) flow failing without a local
//     root cause while the other direction is not failing;
//     - fleet horizon: CERT_EXPIRING per certificate identity, every holder.
//  4. Each group becomes an incident candidate (fingerprint = sha256 of scope,
//     cause, subject) with members, severity (worst member), hosts, sites,
//     agents, summary, root cause, remediation and flow direction (stated in
//     words when inbound checks to the host are green).
//  5. Lifecycle against the stored incident of that fingerprint: damping
//     (PENDING until OpenAfterObservations new observations or OpenAfter
//     elapsed), auto-resolve after ResolveAfterClean clean observations,
//     reopen within ReopenWindow as the same incident, retention of resolved
//     ones. Only incidents that differ from the stored ones are emitted, each
//     with sequence+1.
//
// # Incremental rounds
//
// Correlate is the reference: it recomputes everything. The loop runs an
// Engine (incremental.go), whose rounds give Correlate's output for the
// same input (TestIncrementalEqualsFull over random histories, with
// restores, leadership changes and agents added, removed and moved, handed
// either the whole input or only what changed) while redoing only what
// changed since its previous round. The store replaces stored agents,
// results and incidents and never modifies them, so a change is a new
// pointer under a key.
//
// The loop reads what changed from the store's change log
// (store.CorrelationChanges: the FSM notes the key of every agent, result
// and incident it stores or drops, in a bounded log of this node's, with a
// cursor per reader) and hands it to Engine.RoundChanges (changes.go), so
// a round neither copies nor compares every agent, result and incident:
// it starts from the keys that changed. When the log no longer reaches
// back to the loop's cursor (overflow: more than
// store.DefaultMaxCorrelationChanges changes between two rounds) the loop
// reads everything and Engine.Round compares it with the previous round
// by pointer (a map lookup per result and incident); after a restore
// replaced the state (the log's epoch moved) and in a new leadership term
// (a new Loop.Run, a new Engine) the round computes everything.
//
//   - Folding: an agent is refolded only when its record or one of its
//     results is new; its observations are made once per result, and its
//     groups that did not change are kept (matched by root). A result
//     replaced by one with the same findings (an agent re-sending what it
//     said) keeps its observations, refreshed in place: their groups,
//     routes and members stay, their buckets count the new commit time
//     and staleness, and an agent whose observations are all the same is
//     not folded again.
//   - Routing: each group's route (route.go) depends on a few counts
//     (hosts holding a certificate problem, sites seeing a flow fail, sites
//     observing flows, the anchors of a host, and per endpoint, code and
//     site the probes and the probes of failing agents, from which the
//     site view is read without walking the probers). A group is routed
//     again only when one of its counts moved; an endpoint's agents are
//     routed by class (code, site), and only a class whose rule changed
//     moves its groups.
//   - Candidates: a bucket keeps what its members add up to (worst
//     severity, staleness, newest commit, root cause, roles, directions,
//     the attributes of its last contributor, member sets copied on
//     change) as members come and go, so rebuilding a candidate costs its
//     changes, its text and one copy of its sorted member list, not a pass
//     over its members for each attribute (certificate incidents still
//     walk their roots for the per-host fix, fleet-horizon ones join every
//     holder into the fix).
//   - Lifecycle (incremental_lifecycle.go): present runs for a candidate
//     that was rebuilt, whose stored incident changed, whose last answer
//     changed something (until the store holds it), or whose timer is due
//     (damping by time, the reopen window); absent likewise for a stored
//     incident without a candidate, also when an agent of its members
//     moved or retention is due.
//
// The first round of an Engine, and a round whose agents differ in more
// than their reports (one added or removed, a site or host name changed),
// compute everything; so does a new leader (a new Loop.Run) and a restored
// state.
//
// What a round still costs is what its changes move: at 100,000 open
// findings with 1% of the results changed before each round
// (BenchmarkRoundChurn), clean probes appearing in a site move whole
// classes of agents from remote-target incidents to per-server ones, so a
// round moves thousands of groups and builds and emits over a thousand
// incidents; the figures are in docs/operations.md ("Sizing").
//
// An observation is a newly committed result (its committed_at, leader
// time, is newer than the incident's last_observed_at): re-running a round
// on the same data changes nothing.
package correlate
