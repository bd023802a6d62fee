package checks

import "errors"

// Sentinel errors of the checks package; returned errors wrap them.
var (
	// ErrNoChecks: the configuration names nothing to check.
	ErrNoChecks = errors.New("checks: nothing to check (give --cert-store, --probe, --exchange-inventory, --protocol-logs, --queue-file or --mail-domains)")
	// ErrNoStore: a check needs a certificate store and none is usable.
	ErrNoStore = errors.New("checks: no usable certificate store (give --cert-store)")
	// ErrNoLogFiles: a protocol log directory holds no SMTP protocol logs.
	ErrNoLogFiles = errors.New("checks: no SMTP protocol log files (protocol logging is off by default: Set-SendConnector/Set-ReceiveConnector -ProtocolLoggingLevel Verbose)")
	// ErrCheckPanicked: a check panicked (a bug); the other checks still ran.
	ErrCheckPanicked = errors.New("checks: check panicked")
	// ErrClientCert: the client certificate for a probe cannot be prepared.
	ErrClientCert = errors.New("checks: client certificate unavailable")
)
