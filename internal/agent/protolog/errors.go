package protolog

import "errors"

// Sentinel errors. Callers branch on these with errors.Is; everything
// returned by this package wraps one of them or an I/O error.
var (
	// ErrLineTooLong reports a line longer than the configured cap
	// (DefaultMaxLineBytes unless overridden). Such lines are skipped
	// and counted in Stats.LongLines.
	ErrLineTooLong = errors.New("protolog: line too long")
	// ErrBadQuoting reports a CSV line whose RFC 4180 quoting is broken
	// (unterminated quoted field or garbage after a closing quote).
	ErrBadQuoting = errors.New("protolog: bad CSV quoting")
	// ErrBadRow reports a syntactically valid CSV line that is not a
	// protocol log row (missing session id, unknown event, too few fields).
	ErrBadRow = errors.New("protolog: malformed row")
	// ErrHeaderLine is returned by ParseLine for '#' header lines.
	ErrHeaderLine = errors.New("protolog: header line")
	// ErrNoDirs is returned by NewTailer when no directory is configured.
	ErrNoDirs = errors.New("protolog: no protocol log directories configured")
	// ErrBadState reports an unreadable or incompatible tailer state file.
	ErrBadState = errors.New("protolog: bad tailer state file")
)
