// Package ingest serves AgentService.Connect: it takes agents' result streams,
// group-commits their batches into raft and acknowledges each batch only after
// the raft entry carrying it is committed and applied.
//
// Group commit: every stream hands its batch to one Committer, which gathers
// whatever batches arrive within a short window (or until a size bound) into a
// single IngestBatches command. One fsync then covers many agents. The FSM
// skips batches whose (agent id, sequence) is already committed, so a batch
// replayed after a reconnect or a leader change is acknowledged again but
// never applied twice.
package ingest
