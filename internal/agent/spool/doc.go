// Package spool is the agent's durable store-and-forward outbox: result
// batches are appended here before they are sent, survive agent restarts
// and crashes, are replayed in sequence order, and are deleted when the
// controller acknowledges them. *Spool implements stream.Outbox.
//
// # On-disk format
//
// A spool directory holds segment files and one meta file:
//
//	seg-00000000000000000001.log   records, appended in seq order
//	seg-00000000000000000002.log   ...
//	meta                           last seq, acknowledged watermark, losses
//	meta.tmp                       transient, removed at Open
//
// A segment is a plain concatenation of records (there is no file header).
// Each record is a 28-byte header followed by the protobuf encoding of one
// mxv1.ResultBatch (record.go has the exact layout): magic "MXSR",
// version, flags, the batch seq, payload length, CRC32-C of the payload and
// CRC32-C of the header itself. A new segment is started when the active
// one would exceed Options.SegmentBytes, and at every Open (an existing
// segment is never appended to again, so a torn tail left by a crash stays
// at the end of a file that is only ever read).
//
// The meta file (meta.go) is 96 bytes with its own CRC: lastSeq, the
// highest sequence ever appended, reserved or acknowledged; floor, the
// watermark at or below which every batch is acknowledged or dropped; and
// the cumulative loss counters (loss.go). It is replaced atomically (write
// meta.tmp, fsync, rename, fsync the directory). Append writes it before
// each record to reserve the record's sequence number.
//
// Open scans every segment and keeps an in-memory index of the live
// records (seq -> segment, offset, size; about 24 bytes per batch). Batches
// themselves stay on disk: Pending and Each read them back, verifying both
// CRCs again and decoding. Each streams in bounded chunks; Pending
// collects everything Each yields into one slice.
//
// # Trimming and bounds
//
// Trim(upTo) raises the floor, writes the meta file, then deletes every
// segment (except the one being appended to) whose records are all at or
// below the floor; deleting whole files is the only way space is
// reclaimed. A partially acknowledged segment stays, and the persisted
// floor keeps its acknowledged records from being replayed after a
// restart.
//
// When an Append would push the held bytes over Options.MaxBytes, the
// oldest held batches are dropped one by one (the floor rises past them),
// counted in Stats.Dropped and, with their check results, in Loss; the
// reservation write of the same Append persists floor and counters.
//
// # Loss accounting
//
// Loss (loss.go) counts, cumulatively and persistently, every batch that
// left the spool without the controller committing it: dropped for space,
// never stored (failed write or fsync, ENOSPC, too large) or damaged. A
// damaged record found at Open is only a suspect until the controller's
// next Welcome says whether it committed it (ResolveMissing): an agent
// killed between the controller's commit and its own Trim leaves exactly
// such a record, and it is not a loss. The runner carries the counters in
// every batch and reports AGENT_SPOOL_LOSS until a batch reporting the
// current total is acknowledged.
//
// # Corruption and resync
//
// Reading a segment never trusts a length that has not passed the header
// CRC. When the frame at some offset is bad (wrong magic, header CRC
// mismatch, length above MaxBatchBytes, payload CRC mismatch, or the
// record runs past the end of the file) the reader searches forward byte
// by byte for the next "MXSR" magic and resumes at the first candidate
// whose header CRC and payload CRC both verify; the skipped region is
// counted once in Stats.Corrupt and logged with its offsets. Records after
// garbage, a zeroed block or a torn write are therefore recovered. A frame
// with valid CRCs but an unknown version or flags is skipped by its length
// and counted. A record whose seq is not above the previous record's is
// skipped and counted (it can only come from damage). A record that was
// fine at Open but cannot be read back later is counted, logged and
// dropped from the index. A random false match needs a 4-byte magic and a
// 32-bit header CRC to line up by chance, and even then the payload CRC
// must match too.
//
// # Crash safety
//
// The argument, for a process killed at any instant (kill -9, crash, OOM):
//
//   - Append writes the complete record with one write at the end of the
//     active segment and, under SyncAlways, fsyncs it before returning; the
//     index and LastSeq change only after that. So a batch whose Append
//     returned nil is in the file; a crash mid-Append leaves at most one
//     partial record at the very end of the newest segment, which fails
//     its CRC (or runs past EOF) at the next Open and is dropped and
//     counted. Records before it are untouched: the file is append-only.
//   - A new segment file is created (and under SyncAlways its directory
//     entry fsynced) before any record goes into it.
//   - Append reserves the record's sequence number in the meta file
//     before writing the record, so a record that is then torn, damaged or
//     never written still counts: at Open LastSeq = max(meta.lastSeq,
//     highest seq found in any segment), and a restarted agent never reuses
//     a sequence number, even after its newest records were lost. (A reused
//     number would be taken for a replay by the controller, which already
//     committed it, and never applied.)
//   - The meta file is replaced by rename, so it is either the old or the
//     new version, never a mix; its CRC catches anything else. It is made
//     durable before any segment is deleted.
//   - Segments are deleted only after the meta file holding the floor that
//     makes them dead is durable. A crash between the two leaves dead
//     segments that Open deletes.
//
// SyncAlways extends this to power loss and OS crashes, as far as the
// storage honours fsync. SyncNone keeps it for process crashes only (the
// data is in the OS page cache), trading that for throughput.
//
// The reservation costs one meta rewrite per Append: BenchmarkAppend on
// the 2-core lab machine went from 0.55 ms to 1.08 ms per batch with
// fsync, 17 us to 0.40 ms without (go test -run x -bench Append
// -benchtime 3000x ./internal/agent/spool). Agents append one batch per
// check round (every minute by default), so it does not matter there.
//
// # Concurrency and platforms
//
// One mutex guards the index and files; Append, Trim, Pending, Each,
// LastSeq and Stats may be called from any goroutines. Disk reads for
// Pending/Each happen under the lock (so a segment is never deleted while
// being read), but Each calls its callback without it. Only package os is
// used. On Windows an open file cannot be deleted, so segment handles are
// closed before removal and read handles are opened only for the duration
// of one chunk; directories are not fsynced there (package os cannot).
// A directory must be used by one process at a time; nothing enforces it.
// Inspect reads a directory without writing anything, so a read-only
// status command may run next to the agent.
package spool
