package certstore

import (
	"runtime"
	"time"
)

// Defaults applied by Open for zero-valued Options fields.
const (
	DefaultMaxFileBytes     int64 = 16 << 20  // 16 MiB per certificate/key file
	DefaultMaxSnapshotBytes int64 = 256 << 20 // a snapshot of ~100k certificates
	DefaultMaxFiles               = 100_000
	DefaultMaxDepth               = 8
	DefaultMaxPFXIterations       = 1_000_000
)

// Options configure every backend. The zero value is usable.
type Options struct {
	// PFXPasswords are tried, in order, on every PKCS#12 file, followed by
	// the empty password. They are never logged, never included in errors
	// or Problems, and never written to snapshots.
	PFXPasswords []string
	// MaxFileBytes caps the size of any single file read by the pemdir
	// backend; bigger files become an ErrFileTooLarge Problem. 0 means
	// DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxSnapshotBytes caps the size of a snapshot file. 0 means
	// DefaultMaxSnapshotBytes.
	MaxSnapshotBytes int64
	// MaxFiles caps how many files a pemdir scan examines. 0 means
	// DefaultMaxFiles.
	MaxFiles int
	// MaxDepth is how many directory levels below the root a pemdir scan
	// descends (0 means DefaultMaxDepth; negative means the root only).
	MaxDepth int
	// MaxPFXIterations refuses PKCS#12 files whose key-derivation iteration
	// counts exceed it (a hostile file could otherwise pin a CPU for hours).
	// 0 means DefaultMaxPFXIterations.
	MaxPFXIterations int
	// Workers is the number of files parsed concurrently. 0 means
	// GOMAXPROCS.
	Workers int
	// Now returns the current time (Contents.ReadAt); nil means time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of o with zero fields filled in (every reader
// applies it; a store reader outside this package applies it too).
func (o Options) WithDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxSnapshotBytes <= 0 {
		o.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxPFXIterations <= 0 {
		o.MaxPFXIterations = DefaultMaxPFXIterations
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Copy the password slice so later mutation by the caller cannot race
	// with a running scan.
	o.PFXPasswords = append([]string(nil), o.PFXPasswords...)
	return o
}
