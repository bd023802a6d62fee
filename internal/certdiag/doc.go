// Package certdiag holds the rules both roles need: it diagnoses a
// server's certificates (in a store, or presented by a server) and the
// Exchange connectors that choose among them, on a model alone
// (internal/certstore, internal/exchange), with no I/O. The agent
// (internal/agent/diagnose) runs them every round on what it collects; the
// renewal pre-flight (internal/preflight) runs them on a simulated store,
// on the server and, for the whole fleet, on the controller. Each finding
// code's condition lives in one rule, here or in the agent's diagnose for
// the evidence only the agent collects (probes, logs, queues, events, DNS).
//
// Certificate rules apply alike to certificates found in a store and to
// certificates presented by a server; the evidence key "origin" says which
// ("store" or "presented"). A CA certificate is never a transport
// certificate; TransportUse says which certificates some connector could
// select, so a finding about one no connector uses is informational.
//
// Summaries and TransportSummaries are the bounded certificate listings the
// agent reports for the controller's inventory and fleet pre-flight.
package certdiag
