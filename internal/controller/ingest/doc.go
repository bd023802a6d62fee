// Package ingest serves AgentService.Connect: it takes agents' result streams,
// group-commits their batches into raft and acknowledges each batch only after
// the raft entry carrying it is committed and applied.
//
// Group commit: every stream hands its batch to one Committer, which gathers
// whatever batches arrive within a short window (or until a size bound) into
// one group, proposed as IngestBatches entries of at most
// store.IngestEntryBytes each (larger ones cost followers' raft transport
// far more to decode; a stream's batches of the group share one entry).
// The entries go to raft back to back, so one fsync and one append RPC
// cover many agents. The FSM skips batches whose (agent id, sequence) is
// already committed, so a batch replayed after a reconnect or a leader
// change is acknowledged again but never applied twice.
//
// Streams are pipelined: a stream's handler reads and submits up to
// MaxInFlight batches while earlier ones commit, and an acker goroutine
// (alive only while something is in flight, so an idle stream costs none)
// sends acks strictly in sequence order, each after its batch is
// committed. An Ack covers its sequence and everything below (its
// contract in agent.proto), so one Ack answers the committed batches at
// the head of a stream's queue together: with several in flight, a group
// commit usually carries an agent's batches together, and the stream then
// costs one message and one TLS write per commit rather than one per batch. The committer keeps a stream's batches in submission order
// and, once one of them fails to commit, fails the stream's later ones
// without proposing them (Chain): the FSM applies only sequences above the
// agent's last committed one, so a later batch committed past a failed one
// would turn the failed one's resend into a "replay". After a failure the
// stream acknowledges nothing more, tells the agent NotLeader and ends; the
// agent resends everything unacknowledged from its spool, which the FSM
// applies once.
//
// Batches are decoded once: ServerCodec keeps each batch's wire bytes next
// to the decoded request, the session validates the decoded batch, and the
// committer hands raft those bytes as they arrived (store.ApplyIngestEntries)
// rather than encoding the batch again. ServerCodec decodes batches with
// batchpb (a hand-written decoder that gives exactly what proto.Unmarshal
// does, at a third of its allocations; its doc.go says why); followers
// decode the raft entries with it too.
//
// Only the leader serves streams: a follower answers Hello with NotLeader
// naming the leader it knows (none during an election), and a node that
// stops leading closes the connections of every stream it holds
// (Server.WhileLeading), so their agents look for the new leader at once.
package ingest
