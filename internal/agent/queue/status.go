package queue

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Status is a queue status, normalised to the Exchange enum member name
// (QueueStatus: None, Active, Ready, Retry, Suspended, Connecting).
// Unknown numeric values become "Unknown(n)"; unknown strings are kept.
type Status string

// Status values.
const (
	StatusNone       Status = "None"
	StatusActive     Status = "Active"
	StatusReady      Status = "Ready"
	StatusRetry      Status = "Retry"
	StatusSuspended  Status = "Suspended"
	StatusConnecting Status = "Connecting"
)

// statusByNumber is the QueueStatus enum order; ConvertTo-Json in a local
// Exchange Management Shell renders the enum as this integer, while remote
// (deserialised) sessions and PowerShell 7 render the name.
var statusByNumber = []Status{StatusNone, StatusActive, StatusReady, StatusRetry, StatusSuspended, StatusConnecting}

func statusFromNumber(n int64) Status {
	if n >= 0 && n < int64(len(statusByNumber)) {
		return statusByNumber[n]
	}
	return Status("Unknown(" + strconv.FormatInt(n, 10) + ")")
}

func statusFromString(s string) Status {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return statusFromNumber(n)
	}
	for _, k := range statusByNumber {
		if strings.EqualFold(s, string(k)) {
			return k
		}
	}
	return Status(s)
}

// UnmarshalJSON accepts a number, a string (name or digits), null, or an
// object carrying "value"/"Value" (PowerShell 5.1 wraps values that have
// extended properties).
func (s *Status) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = statusFromString(str)
	case b[0] == '{':
		v, ok := objectValue(b)
		if !ok {
			*s = ""
			return nil
		}
		return s.UnmarshalJSON(v)
	default:
		var f float64
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		*s = statusFromNumber(int64(f))
	}
	return nil
}

// IsRetry reports whether the queue is in Retry (the state in which
// LastError describes the failing connection attempt).
func (s Status) IsRetry() bool { return s == StatusRetry }
