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
//	meta                           last seq + acknowledged watermark
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
// The meta file (meta.go) is 32 bytes with its own CRC: lastSeq, the
// highest sequence ever appended or acknowledged, and floor, the watermark
// at or below which every batch is acknowledged or dropped. It is replaced
// atomically (write meta.tmp, fsync, rename, fsync the directory).
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
// oldest held batches are dropped one by one (the floor rises past them)
// and counted in Stats.Dropped; the caller reports that count. Drops move
// the floor in memory only; it reaches the meta file at the next Trim,
// segment deletion or Close, so after a crash some dropped batches of a
// partially dropped segment may be replayed again, which is harmless.
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
//   - The meta file is replaced by rename, so it is either the old or the
//     new version, never a mix; its CRC catches anything else. It is made
//     durable before any segment is deleted, so lastSeq is never only in a
//     deleted segment: at Open LastSeq = max(meta.lastSeq, highest seq found
//     in any segment), and a restarted agent never reuses a sequence
//     number.
//   - Segments are deleted only after the meta file holding the floor that
//     makes them dead is durable. A crash between the two leaves dead
//     segments that Open deletes.
//
// SyncAlways extends this to power loss and OS crashes, as far as the
// storage honours fsync. SyncNone keeps it for process crashes only (the
// data is in the OS page cache), trading that for throughput.
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
package spool
