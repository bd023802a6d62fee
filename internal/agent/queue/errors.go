package queue

import "errors"

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrEmpty: the input held nothing but whitespace (Get-Queue returned
	// no objects and ConvertTo-Json wrote nothing).
	ErrEmpty = errors.New("queue: empty input")
	// ErrNotJSON: the input is not JSON in any accepted shape.
	ErrNotJSON = errors.New("queue: not Get-Queue JSON")
	// ErrTooLarge: the input exceeds MaxInputBytes.
	ErrTooLarge = errors.New("queue: input too large")
)

// Sentinel errors of live collection (collect.go, CollectQueues).
var (
	// ErrUnsupported: live collection is not available on this platform
	// (anything but Windows).
	ErrUnsupported = errors.New("queue: collection not supported on this platform")
	// ErrCollectorFailed: the PowerShell collector ran but reported an error
	// (snap-in missing, Get-Queue failed, no output, timeout...).
	ErrCollectorFailed = errors.New("queue: collector failed")
	// ErrOutputTooLarge: the collector wrote more than the configured limit.
	ErrOutputTooLarge = errors.New("queue: collector output too large")
)
