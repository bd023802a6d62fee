package certstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors wrapped (with %w) by Problem.Err or returned by Read/Open,
// so that callers can branch with errors.Is.
var (
	// ErrFileTooLarge: a file exceeds Options.MaxFileBytes and was not read.
	ErrFileTooLarge = errors.New("certstore: file exceeds size limit")
	// ErrMalformed: a file looks like PEM, DER or PKCS#12 but cannot be parsed
	// (truncated, corrupt).
	ErrMalformed = errors.New("certstore: malformed certificate or key data")
	// ErrUnrecognized: a file with a certificate/key extension holds nothing
	// recognisable.
	ErrUnrecognized = errors.New("certstore: unrecognised file content")
	// ErrEncryptedKey: a private key is password-encrypted (encrypted PKCS#8
	// or legacy Proc-Type PEM) and cannot be checked.
	ErrEncryptedKey = errors.New("certstore: private key is encrypted")
	// ErrPFXPassword: none of the configured passwords (nor the empty
	// password) opens a PKCS#12 file.
	ErrPFXPassword = errors.New("certstore: PKCS#12 password incorrect")
	// ErrPFXSuspicious: a PKCS#12 file asks for an absurd key-derivation
	// iteration count (CPU exhaustion guard) and was not decrypted.
	ErrPFXSuspicious = errors.New("certstore: PKCS#12 iteration count over limit")
	// ErrTooManyFiles: the directory holds more than Options.MaxFiles
	// candidate files; the rest were not read.
	ErrTooManyFiles = errors.New("certstore: too many files in store directory")
	// ErrBadLocation: a windows: store location cannot be parsed.
	ErrBadLocation = errors.New("certstore: invalid store location")
)

// problemf builds a Problem whose Err wraps sentinel.
func problemf(source string, sentinel error, format string, args ...any) Problem {
	return Problem{Source: source, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// shortList renders up to max items, "a, b, c (+2 more)".
func shortList(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(items[:max], ", "), len(items)-max)
}
