// Package stream is the agent's side of AgentService.Connect: it keeps one
// stream to the leader open, sends Hello, replays every batch not yet
// acknowledged in sequence order, and trims the outbox on Ack.
//
// Reconnects use exponential backoff with full jitter. A NotLeader answer
// redirects to the leader's address when the controller knows it, else the
// client tries the next configured controller. Sequence numbers are assigned
// when a batch enters the outbox and never change, so a batch replayed after
// a reconnect or leader change is recognised by the controller (agent id +
// seq) and not applied twice.
package stream
