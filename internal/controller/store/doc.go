// Package store is the controller's replicated state: a hashicorp/raft node
// with a durable log and stable store (hashicorp/raft-wal, logstore.go; a
// BoltDB log an earlier version created is migrated into it at start,
// logstore_migrate.go), file snapshots, and a deterministic FSM.
//
// Every change is a mxprobe.v1.Command (proto/mxprobe/v1/command.proto)
// written to the raft log. The FSM never reads a clock or iterates a map for
// output: time comes from Command.proposed_at, set by the leader, and every
// listing is sorted. A command kind this binary does not know stops the node
// (panic inside Apply) rather than let replicas diverge.
//
// Batches are idempotent by (agent id, sequence): a batch whose sequence is at
// or below the agent's last committed one is acknowledged and not applied again.
// State holds agents and the latest result per (agent, check, target); objects
// stored in it are never mutated after insertion (copy on write), so readers
// and snapshots may share them without copying.
package store
