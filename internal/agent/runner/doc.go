// Package runner is `agent run`: it runs the agent's checks on the
// controller's schedule (interval plus random jitter), numbers each round's
// results as a batch with the next sequence number, puts the batch in the
// outbox and lets the stream client deliver it.
package runner
