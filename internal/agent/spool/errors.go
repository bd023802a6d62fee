package spool

import "errors"

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool: closed")
	// ErrSeqNotIncreasing: Append got a batch whose Seq is not above
	// LastSeq. The batch was not stored.
	ErrSeqNotIncreasing = errors.New("spool: batch sequence not increasing")
	// ErrTooLarge: the encoded batch is larger than MaxBatchBytes or than
	// Options.MaxBytes, so it can never fit. The batch was not stored.
	ErrTooLarge = errors.New("spool: batch too large")
)
