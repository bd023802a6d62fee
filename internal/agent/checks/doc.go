// Package checks runs the agent's checks: each Check reads or probes one
// target and returns a CheckResult with findings. One file per kind of check:
// certificate stores (certstore.go), Exchange connectors (exchange.go),
// protocol logs (protolog.go: parsed once for agent check, tailed with
// persisted offsets and a bounded failure window for agent run), queues
// (queue.go) and live probes (smtp.go, optionally presenting the send
// connector's certificate, clientcert.go). RunAll runs them concurrently and
// links root causes across all results (diagnose.Link). Builder (build.go)
// turns a Spec from configuration into checks.
package checks
