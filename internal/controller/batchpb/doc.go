// Package batchpb decodes the messages that carry agents' check results
// (ConnectRequest with a ResultBatch, and the IngestBatches raft command)
// by hand with protowire, falling back to proto.Unmarshal for anything it
// does not decode itself. The result is always what proto.Unmarshal gives
// for the same bytes, error or message (FuzzUnmarshal checks it on every
// input against proto.Unmarshal and proto.Equal).
//
// Why not protobuf-go's own decoder: it is the reference and stays the
// fallback, but on the ingest path it is the single largest cost of the
// cluster. Every committed batch is decoded once on the leader (from the
// agent) and once on every follower (from the raft entry), and protobuf-go
// decodes generically: a table-driven walk with a reflective setter per
// field, a separate allocation for every string, and map fields (the
// findings' evidence) filled entry by entry through protoreflect.Map with
// a key and a value conversion each, which alone was about a tenth of the
// leader's CPU under full ingest in mxbench. This decoder knows the hot
// messages' layout: it converts one CheckResult's bytes to a string once
// and takes every string of that result (check, target, codes, evidence)
// as a substring of it, sizes the results, findings and evidence maps
// before filling them, and allocates the findings of a result together.
// A result's strings share one allocation, so they live and die with the
// result, which the store keeps or replaces as a whole.
//
// What it decodes by hand: ConnectRequest (the batch field only), Command
// (proposed_at and ingest_batches only), IngestBatches, AgentBatch,
// ResultBatch, CheckResult, Finding, FindingRef, TLSSession, Timestamp and
// Duration. Certificate listings and spool losses, rare in a batch, are
// decoded by proto.Unmarshal in place (merging, as repeated occurrences of
// a message field do). Anything else, an unknown field, a field with an
// unexpected wire type, malformed or invalid input, makes the whole
// message go to proto.Unmarshal, so errors and unknown fields are exactly
// protobuf-go's.
//
// IndexIngest (index.go) is for followers: it reads an IngestBatches raft
// entry without decoding its results, checking every byte the fast path
// checks, and returns what the FSM indexes with each result's bytes
// (EncodedResult) to decode when the result is read. Most results on a
// follower are replaced by the agent's next round before anything reads
// them. It accepts only the layout the leader writes and leaves anything
// else to UnmarshalCommand; FuzzIndexIngest checks that what it accepts
// agrees with UnmarshalCommand field by field and result by result.
package batchpb
