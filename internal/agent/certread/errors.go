package certread

import (
	"errors"
	"fmt"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// Sentinel errors of the store readers, wrapped (with %w) by Problem.Err or
// returned by Open/Read, so that callers can branch with errors.Is. The
// parsers' sentinels (certstore.ErrMalformed, ...) are package certstore's.
var (
	// ErrUnknownScheme is returned by Open for a URI whose scheme has no backend.
	ErrUnknownScheme = errors.New("certread: unknown store scheme")
	// ErrUnsupported is returned when a backend cannot run on this platform
	// (for example windows: on Linux).
	ErrUnsupported = errors.New("certread: backend not supported on this platform")
	// ErrBadSnapshot: a snapshot file is not a valid snapshot document.
	ErrBadSnapshot = errors.New("certread: invalid snapshot")
	// ErrSnapshotVersion: the snapshot's version is not understood.
	ErrSnapshotVersion = errors.New("certread: unsupported snapshot version")
	// ErrThumbprintMismatch: a snapshot entry's thumbprint is not the SHA-1
	// of its DER (tampering or corruption); the entry is dropped.
	ErrThumbprintMismatch = errors.New("certread: thumbprint does not match certificate")
	// ErrStoreEnum: enumerating a Windows store failed part-way.
	ErrStoreEnum = errors.New("certread: store enumeration failed")
)

// RecordedError is a problem carried inside a snapshot: the original error
// value is gone, only its message survives.
type RecordedError struct {
	Message string
}

func (e *RecordedError) Error() string { return e.Message }

// problemf builds a Problem whose Err wraps sentinel.
func problemf(source string, sentinel error, format string, args ...any) certstore.Problem {
	return certstore.Problem{Source: source, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
