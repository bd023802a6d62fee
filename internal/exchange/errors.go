package exchange

import "errors"

// Sentinel errors callers branch on with errors.Is. Every error this package
// returns wraps one of them.
var (
	// ErrInvalidConfig: an inventory document is malformed (bad JSON, a
	// field of the wrong type, a missing connector name, ...). The message
	// names the offending field.
	ErrInvalidConfig = errors.New("exchange: invalid inventory")
	// ErrUnsupportedFormat: the inventory declares a FormatVersion this build
	// does not understand.
	ErrUnsupportedFormat = errors.New("exchange: unsupported inventory format version")
	// ErrInvalidTLSCertificateName: a TlsCertificateName value is not of the
	// form <I>issuer DN<S>subject DN.
	ErrInvalidTLSCertificateName = errors.New("exchange: invalid TlsCertificateName")
	// ErrCollectorFailed: the document is the collector's report that it
	// failed (a CollectorError field): there is no configuration in it.
	// The agent's collector (internal/agent/exchcollect) also wraps
	// powershell.ErrCollectorFailed.
	ErrCollectorFailed = errors.New("exchange: the collector reported a failure")
	// ErrInvalidDN: a distinguished-name string cannot be parsed.
	ErrInvalidDN = errors.New("exchange: invalid distinguished name")
)
