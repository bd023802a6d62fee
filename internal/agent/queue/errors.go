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
