package eventlog

import "errors"

var (
	// ErrNotEVTX: the file does not start with an EVTX file header.
	ErrNotEVTX = errors.New("eventlog: not an EVTX file")
	// ErrMalformed: a record's XML or binary XML is damaged.
	ErrMalformed = errors.New("eventlog: malformed event")
	// ErrNoRecords: the file holds no readable event record at all (an
	// empty or wholly damaged export proves nothing about the server).
	ErrNoRecords = errors.New("eventlog: no readable event record")
	// ErrUnavailable: the live Event Log cannot be queried here (not
	// Windows, or wevtapi refuses: Wine 8's EvtQuery is a stub).
	ErrUnavailable = errors.New("eventlog: live event log unavailable")
)
