// Package dirlock makes a controller's data directory exclusive to one
// process. BoltDB (raft.db) takes its own flock but waits for it forever, so
// a second controller started on the same directory by mistake used to hang
// without a word and ignore SIGINT/SIGTERM. Lock takes an advisory lock on
// <dir>/controller.lock first, polling until a deadline (a few seconds) or
// until its context ends (signals), and records the holder's pid in the file
// so the refusal can name it:
//
//	data directory /var/lib/mxprobe is in use by another controller (pid 4242)
//
// The lock is flock(2) on Unix and LockFileEx on Windows: it belongs to the
// open file, so the kernel releases it when the holder exits or is killed,
// and a stale pid in the file never blocks anyone.
package dirlock
