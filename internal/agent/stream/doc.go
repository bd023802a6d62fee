// Package stream is the agent's side of AgentService.Connect: it keeps one
// stream to the leader open, sends Hello, replays every batch not yet
// acknowledged in sequence order, and trims the outbox on Ack.
//
// Up to Config.InFlight batches (agent key batches_in_flight, default 4) are
// sent before the client waits for the oldest one's ack, so a busy agent or
// a backlog after an outage is not held to one batch per round trip and
// commit; acks are cumulative (Ack{seq} covers every batch up to seq).
//
// Reconnects use exponential backoff with full jitter. A NotLeader answer
// redirects to the leader's address when the controller knows it, else the
// client tries the next configured controller.
//
// A node can stop answering without closing anything (a paused process, a
// frozen VM): the kernel still accepts its connections. The client gives
// every node an ack deadline (Config.AckTimeout): Welcome must come within
// it, and while batches are outstanding something must be acknowledged
// within it of the oldest send or the latest ack. A node that misses it is
// left for the next address and passed over for a while, redirects to it
// included (a follower may still name it until raft notices). Keepalive
// pings every 10 s catch the same on an idle stream. Sequence numbers are assigned
// when a batch enters the outbox and never change, so a batch replayed after
// a reconnect or leader change is recognised by the controller (agent id +
// seq) and not applied twice.
package stream
