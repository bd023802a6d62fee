package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/mxprobe/mxprobe/internal/agent/ctxio"
)

// MaxInputBytes bounds how much Parse reads.
const MaxInputBytes = 64 << 20

// Queue is one Get-Queue object. Fields other than these are ignored.
type Queue struct {
	Identity         string    `json:"Identity"`
	NextHopDomain    string    `json:"NextHopDomain"`
	Status           Status    `json:"Status"`
	MessageCount     int64     `json:"MessageCount"`
	LastError        string    `json:"LastError,omitempty"`
	DeliveryType     string    `json:"DeliveryType,omitempty"`
	NextHopConnector string    `json:"NextHopConnector,omitempty"`
	TlsPolicy        string    `json:"TlsPolicy,omitempty"`
	LastRetryTime    time.Time `json:"LastRetryTime,omitzero"`
	NextRetryTime    time.Time `json:"NextRetryTime,omitzero"`
}

// ParsedError parses q.LastError; see ParseLastError.
func (q *Queue) ParsedError() *LastError { return ParseLastError(q.LastError) }

// Classify matches q.LastError against the failure catalog.
func (q *Queue) Classify() Classification { return Classify(q.ParsedError()) }

// Snapshot is a parsed queue file.
type Snapshot struct {
	Format    string    `json:"format,omitempty"` // "mxprobe-queue/1" for the envelope form
	Server    string    `json:"server,omitempty"`
	Collected time.Time `json:"collected,omitzero"`
	Queues    []Queue   `json:"queues"`
	Skipped   int       `json:"skipped,omitempty"` // array elements that were not queue objects
}

// ParseFile reads and parses a queue file (see Parse).
func ParseFile(ctx context.Context, path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open queue file: %w", err)
	}
	defer f.Close()
	s, err := Parse(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads Get-Queue | ConvertTo-Json output or an mxprobe queue file
// (docs/queue-format.md): a single object, an array of objects, or the
// envelope {"format":"mxprobe-queue/1","server":..,"collected":..,"queues":[..]}.
// UTF-8 (with or without BOM) and UTF-16 LE/BE with BOM (Windows
// PowerShell 5.1's Out-File default) are accepted.
func Parse(ctx context.Context, r io.Reader) (*Snapshot, error) {
	b, err := io.ReadAll(io.LimitReader(ctxio.Reader(ctx, r), MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read queue data: %w", err)
	}
	if len(b) > MaxInputBytes {
		return nil, ErrTooLarge
	}
	return ParseBytes(b)
}

// ParseBytes is Parse on a byte slice.
func ParseBytes(b []byte) (*Snapshot, error) {
	b = bytes.TrimSpace(decodeText(b))
	if len(b) == 0 {
		return nil, ErrEmpty
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: invalid JSON", ErrNotJSON)
	}
	snap := &Snapshot{Queues: []Queue{}}
	switch b[0] {
	case 'n': // null: no queues
		return snap, nil
	case '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
		}
		snap.addAll(raw)
		return snap, nil
	case '{':
		var env struct {
			Format    string            `json:"format"`
			Server    string            `json:"server"`
			Collected json.RawMessage   `json:"collected"`
			Queues    []json.RawMessage `json:"queues"`
		}
		if err := json.Unmarshal(b, &env); err == nil && env.Queues != nil {
			snap.Format, snap.Server = env.Format, env.Server
			snap.Collected, _ = parseTime(env.Collected)
			snap.addAll(env.Queues)
			return snap, nil
		}
		q, ok := decodeQueue(b)
		if !ok {
			return nil, fmt.Errorf("%w: object is not a queue", ErrNotJSON)
		}
		snap.Queues = append(snap.Queues, q)
		return snap, nil
	}
	return nil, fmt.Errorf("%w: top-level value is not an object or array", ErrNotJSON)
}

func (s *Snapshot) addAll(raw []json.RawMessage) {
	for _, m := range raw {
		if q, ok := decodeQueue(m); ok {
			s.Queues = append(s.Queues, q)
		} else {
			s.Skipped++
		}
	}
}

// decodeQueue decodes one queue object leniently: each known field is
// decoded on its own so one odd field does not lose the others. Keys are
// matched case-insensitively.
func decodeQueue(b []byte) (Queue, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return Queue{}, false
	}
	get := func(k string) json.RawMessage {
		if v, ok := m[k]; ok {
			return v
		}
		for kk, v := range m {
			if strings.EqualFold(kk, k) {
				return v
			}
		}
		return nil
	}
	var q Queue
	q.Identity = identityString(get("Identity"))
	q.NextHopDomain = looseString(get("NextHopDomain"))
	if v := get("Status"); v != nil {
		_ = q.Status.UnmarshalJSON(v)
	}
	q.MessageCount = looseInt(get("MessageCount"))
	q.LastError = looseString(get("LastError"))
	q.DeliveryType = looseString(get("DeliveryType"))
	q.NextHopConnector = looseString(get("NextHopConnector"))
	q.TlsPolicy = looseString(get("TlsPolicy"))
	q.LastRetryTime, _ = parseTime(get("LastRetryTime"))
	q.NextRetryTime, _ = parseTime(get("NextRetryTime"))
	if q.Identity == "" && q.NextHopDomain == "" && q.Status == "" && q.LastError == "" {
		return Queue{}, false
	}
	return q, true
}

// objectValue returns the "value"/"Value" member of a PowerShell wrapper
// object.
func objectValue(b []byte) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil, false
	}
	for k, v := range m {
		if strings.EqualFold(k, "value") {
			return v, true
		}
	}
	return nil, false
}

// looseString renders strings as-is, numbers/bools as text, wrapper
// objects by their value, and null as "".
func looseString(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return ""
	}
	switch b[0] {
	case '"':
		var s string
		_ = json.Unmarshal(b, &s)
		return s
	case '{':
		if v, ok := objectValue(b); ok {
			return looseString(v)
		}
		return string(b)
	case '[':
		var parts []json.RawMessage
		_ = json.Unmarshal(b, &parts)
		var out []string
		for _, p := range parts {
			out = append(out, looseString(p))
		}
		return strings.Join(out, "; ")
	}
	return string(b)
}

// identityString handles Identity as a string ("EDGE01\3",
// "EDGE01\contoso.mail.onmicrosoft.com") or, with -Depth > 2, an object
// with Server and RowId/QueueIdentity members.
func identityString(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return looseString(b)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return string(b)
	}
	server := looseString(m["Server"])
	for _, k := range []string{"RowId", "NextHopDomain", "QueueIdentity"} {
		if v := looseString(m[k]); v != "" {
			if server != "" {
				return server + `\` + v
			}
			return v
		}
	}
	if v, ok := objectValue(b); ok {
		return looseString(v)
	}
	return string(b)
}

func looseInt(b json.RawMessage) int64 {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	if b[0] == '{' {
		v, ok := objectValue(b)
		if !ok {
			return 0
		}
		return looseInt(v)
	}
	if b[0] == '"' {
		n, _ := strconv.ParseInt(strings.TrimSpace(looseString(b)), 10, 64)
		return n
	}
	var f float64
	if json.Unmarshal(b, &f) != nil || math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0
	}
	return int64(f)
}

// parseTime accepts "\/Date(1556778734000)\/" (Windows PowerShell 5.1,
// with optional +hhmm offset), RFC 3339 (PowerShell 7), the same without
// zone (taken as UTC), and wrapper objects {"value": ...}.
func parseTime(b json.RawMessage) (time.Time, bool) {
	s := looseString(b)
	if s == "" {
		return time.Time{}, false
	}
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		inner := s[len("/Date(") : len(s)-2]
		if i := strings.IndexAny(inner[min(1, len(inner)):], "+-"); i >= 0 {
			inner = inner[:i+min(1, len(inner))]
		}
		ms, err := strconv.ParseInt(inner, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02 15:04:05", "1/2/2006 3:04:05 PM"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeText converts UTF-16 (with BOM) to UTF-8 and strips a UTF-8 BOM.
func decodeText(b []byte) []byte {
	switch {
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return b[3:]
	case len(b) >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF)):
		le := b[0] == 0xFF
		b = b[2:]
		u := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			if le {
				u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		return []byte(string(utf16.Decode(u)))
	}
	return b
}
