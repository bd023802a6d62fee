package exchange

import "errors"

// Sentinel errors callers branch on with errors.Is. Every error this package
// returns wraps one of them.
var (
	// ErrInvalidInventory: an inventory document is malformed (bad JSON, a
	// field of the wrong type, a missing connector name, ...). The message
	// names the offending field.
	ErrInvalidInventory = errors.New("exchange: invalid inventory")
	// ErrUnsupportedFormat: the inventory declares a FormatVersion this build
	// does not understand.
	ErrUnsupportedFormat = errors.New("exchange: unsupported inventory format version")
	// ErrInvalidTLSCertificateName: a TlsCertificateName value is not of the
	// form <I>issuer DN<S>subject DN.
	ErrInvalidTLSCertificateName = errors.New("exchange: invalid TlsCertificateName")
	// ErrInvalidDN: a distinguished-name string cannot be parsed.
	ErrInvalidDN = errors.New("exchange: invalid distinguished name")
	// ErrUnsupported: live collection is not available on this platform
	// (anything but Windows).
	ErrUnsupported = errors.New("exchange: collection not supported on this platform")
	// ErrCollectorFailed: the PowerShell collector ran but reported an error
	// (snap-in missing, cmdlet failed, no output...).
	ErrCollectorFailed = errors.New("exchange: collector failed")
	// ErrOutputTooLarge: the collector wrote more than the configured limit.
	ErrOutputTooLarge = errors.New("exchange: collector output too large")
)
