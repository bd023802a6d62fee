package protolog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is the protocol log event column.
type Event byte

// Event values as written by Exchange.
const (
	EventConnect    Event = '+' // session opened
	EventDisconnect Event = '-' // session closed
	EventSend       Event = '>' // this server sent a line
	EventReceive    Event = '<' // this server received a line
	EventInfo       Event = '*' // informational row
)

func (e Event) valid() bool {
	switch e {
	case EventConnect, EventDisconnect, EventSend, EventReceive, EventInfo:
		return true
	}
	return false
}

// String returns the single-character form.
func (e Event) String() string { return string(rune(e)) }

// Direction says which side of the SMTP session this server was on.
type Direction uint8

// Directions.
const (
	DirectionUnknown Direction = iota
	DirectionSend              // SmtpSend log: we are the client
	DirectionReceive           // SmtpReceive log: we are the server
)

// String returns "send", "receive" or "unknown".
func (d Direction) String() string {
	switch d {
	case DirectionSend:
		return "send"
	case DirectionReceive:
		return "receive"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Direction) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "send":
		*d = DirectionSend
	case "receive":
		*d = DirectionReceive
	default:
		*d = DirectionUnknown
	}
	return nil
}

// Column indexes of the logical fields.
const (
	colDateTime = iota
	colConnector
	colSession
	colSeq
	colLocal
	colRemote
	colEvent
	colData
	colContext
	numCols
)

// DefaultFields is the documented #Fields order, used when a file has no
// #Fields header (e.g. a tail that started mid-file).
var defaultFieldNames = [numCols]string{
	"date-time", "connector-id", "session-id", "sequence-number",
	"local-endpoint", "remote-endpoint", "event", "data", "context",
}

// DefaultFields returns the documented Exchange field order.
func DefaultFields() []string { return append([]string(nil), defaultFieldNames[:]...) }

// fieldMap maps logical column -> CSV column index (-1 when absent).
type fieldMap [numCols]int8

func defaultFieldMap() fieldMap {
	// A literal, so that the per-line comparison with it is a constant's.
	return fieldMap{colDateTime, colConnector, colSession, colSeq, colLocal, colRemote, colEvent, colData, colContext}
}

// newFieldMap builds a map from a #Fields list. Unknown names are ignored;
// missing known names map to -1. An empty list yields the default map.
func newFieldMap(names []string) fieldMap {
	if len(names) == 0 {
		return defaultFieldMap()
	}
	var m fieldMap
	for i := range m {
		m[i] = -1
	}
	for idx, n := range names {
		if idx >= maxColumns {
			break
		}
		n = strings.TrimSpace(n)
		for c, want := range defaultFieldNames {
			if strings.EqualFold(n, want) {
				m[c] = int8(idx)
			}
		}
	}
	return m
}

// Row is one parsed protocol log row.
type Row struct {
	Time      time.Time `json:"time"`
	Connector string    `json:"connector"`
	SessionID string    `json:"sessionId"`
	Seq       int64     `json:"seq"`
	Local     string    `json:"local,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	Event     Event     `json:"event"`
	Data      string    `json:"data,omitempty"`
	Context   string    `json:"context,omitempty"`
}

// rawRow is the allocation-free form used on the hot path; fields alias
// the line buffer and are only valid until the next line.
type rawRow struct {
	time      []byte
	connector []byte
	session   []byte
	seq       []byte
	local     []byte
	remote    []byte
	event     Event
	data      []byte
	context   []byte
	timed     bool // time is canonical (canonicalTime), found by the fast path
}

// splitter holds reusable buffers for turning lines into rawRows.
type splitter struct {
	cols    [maxColumns][]byte
	scratch []byte
}

// split parses line into r using field map m.
func (s *splitter) split(line []byte, m *fieldMap, r *rawRow) error {
	if cap(s.scratch) < len(line) {
		s.scratch = make([]byte, 0, len(line)+len(line)/2)
	}
	n, err := splitCSV(line, s.cols[:], s.scratch[:0])
	if err != nil {
		return err
	}
	if n > maxColumns {
		n = maxColumns
	}
	get := func(c int) []byte {
		i := int(m[c])
		if i < 0 || i >= n {
			return nil
		}
		return s.cols[i]
	}
	ev := get(colEvent)
	sess := get(colSession)
	if len(ev) != 1 || !Event(ev[0]).valid() {
		return fmt.Errorf("%w: event %q", ErrBadRow, truncateForError(ev))
	}
	if len(sess) == 0 {
		return fmt.Errorf("%w: empty session-id", ErrBadRow)
	}
	r.time = get(colDateTime)
	r.connector = get(colConnector)
	r.session = sess
	r.seq = get(colSeq)
	r.local = get(colLocal)
	r.remote = get(colRemote)
	r.event = Event(ev[0])
	r.data = get(colData)
	r.context = get(colContext)
	r.timed = false
	return nil
}

func truncateForError(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// ParseLine parses a single data line (no trailing newline required; a
// trailing CR/LF is stripped). fields is the #Fields list of the file, or
// nil for the documented default order. Header lines return ErrHeaderLine.
func ParseLine(line []byte, fields []string) (Row, error) {
	line = trimEOL(line)
	line = bytes.TrimPrefix(line, utf8BOM)
	if len(line) > 0 && line[0] == '#' {
		return Row{}, ErrHeaderLine
	}
	if len(line) > DefaultMaxLineBytes {
		return Row{}, ErrLineTooLong
	}
	m := newFieldMap(fields)
	var s splitter
	var r rawRow
	if err := s.split(line, &m, &r); err != nil {
		return Row{}, fmt.Errorf("parse line: %w", err)
	}
	t, _ := parseTime(r.time)
	seq, _ := strconv.ParseInt(string(r.seq), 10, 64)
	return Row{
		Time:      t,
		Connector: string(r.connector),
		SessionID: string(r.session),
		Seq:       seq,
		Local:     string(r.local),
		Remote:    string(r.remote),
		Event:     r.event,
		Data:      string(r.data),
		Context:   string(r.context),
	}, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// dayCache remembers the midnight of the last date parsed: rows of a log
// share their date, and time.Date is most of parseTime's cost.
type dayCache struct {
	date     [10]byte
	midnight time.Time
	ok       bool
}

// parse is parseTime with the cache: the same result, faster.
func (c *dayCache) parse(b []byte) (time.Time, bool) {
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && (b[10] == 'T' || b[10] == ' ') &&
		b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		h, ok4 := atoiN(b[11:13])
		mi, ok5 := atoiN(b[14:16])
		s, ok6 := atoiN(b[17:19])
		rest := b[19 : len(b)-1]
		ns, okf := 0, len(rest) == 0
		if !okf && rest[0] == '.' && len(rest) >= 2 && len(rest) <= 10 {
			if frac, ok := atoiN(rest[1:]); ok {
				ns, okf = frac, true
				for k := len(rest) - 1; k < 9; k++ {
					ns *= 10
				}
			}
		}
		if ok4 && ok5 && ok6 && okf && h < 24 && mi < 60 && s < 61 {
			if !c.ok || string(b[:10]) != string(c.date[:]) {
				y, ok1 := atoiN(b[0:4])
				mo, ok2 := atoiN(b[5:7])
				d, ok3 := atoiN(b[8:10])
				if !(ok1 && ok2 && ok3 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31) {
					return parseTime(b)
				}
				copy(c.date[:], b[:10])
				c.midnight, c.ok = time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
			}
			return c.midnight.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second + time.Duration(ns)), true
		}
	}
	return parseTime(b)
}

// canonicalTimeLen is the length of Exchange's own timestamps.
const canonicalTimeLen = len("2019-05-02T06:32:10.118Z")

// canonicalTime reports whether b is a timestamp exactly as Exchange
// writes it, "YYYY-MM-DDTHH:MM:SS.fffZ", that parses (dayCache.parse) to
// a time after the zero time without normalising (a valid day of the
// month, seconds below 60, year from 1000): such timestamps order as their
// bytes do, so touch compares them without parsing.
func canonicalTime(b []byte) bool {
	if len(b) != canonicalTimeLen {
		return false
	}
	// Eight bytes at a time: "YYYY-MM-", "DDTHH:MM", ":SS.fffZ".
	w := [3]uint64{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])}
	const highs = 0x8080808080808080
	for i, x := range w {
		m := canonDigits[i]
		if x&^m != canonSeps[i] || x&highs != 0 {
			return false
		}
		// No byte is >= 0x80, so neither sum carries from byte to byte: a
		// digit byte d has d+0x46 < 0x80 (d <= '9') and d+0x50 >= 0x80 (d >= '0').
		if hm := m & highs; (x+0x4646464646464646)&hm != 0 || (x+0x5050505050505050)&hm != hm {
			return false
		}
	}
	if b[0] == '0' {
		return false
	}
	mo := int(b[5]-'0')*10 + int(b[6]-'0')
	d := int(b[8]-'0')*10 + int(b[9]-'0')
	h := int(b[11]-'0')*10 + int(b[12]-'0')
	if mo < 1 || mo > 12 || d < 1 || h > 23 || b[14] > '5' || b[17] > '5' {
		return false
	}
	if d <= 28 {
		return true
	}
	y := int(b[0]-'0')*1000 + int(b[1]-'0')*100 + int(b[2]-'0')*10 + int(b[3]-'0')
	return d <= daysIn(mo, y)
}

// canonicalClock is canonicalTime for a timestamp whose first eleven
// bytes ("YYYY-MM-DDT") are those of one canonicalTime accepted: only the
// clock is checked (the date's checks would give the same again).
func canonicalClock(b []byte) bool {
	if len(b) != canonicalTimeLen {
		return false
	}
	const highs = 0x8080808080808080
	for i := 1; i < 3; i++ {
		x, m := binary.LittleEndian.Uint64(b[8*i:]), canonDigits[i]
		if x&^m != canonSeps[i] || x&highs != 0 {
			return false
		}
		if hm := m & highs; (x+0x4646464646464646)&hm != 0 || (x+0x5050505050505050)&hm != hm {
			return false
		}
	}
	return int(b[11]-'0')*10+int(b[12]-'0') <= 23 && b[14] <= '5' && b[17] <= '5'
}

// canonDigits masks the digit bytes of the three words canonicalTime
// reads; canonSeps is what the other bytes must be.
var (
	canonDigits = [3]uint64{digitMask(0, 1, 2, 3, 5, 6), digitMask(0, 1, 3, 4, 6, 7), digitMask(1, 2, 4, 5, 6)}
	canonSeps   = [3]uint64{
		binary.LittleEndian.Uint64([]byte("\x00\x00\x00\x00-\x00\x00-")),
		binary.LittleEndian.Uint64([]byte("\x00\x00T\x00\x00:\x00\x00")),
		binary.LittleEndian.Uint64([]byte(":\x00\x00.\x00\x00\x00Z")),
	}
)

func digitMask(bytes ...int) uint64 {
	var m uint64
	for _, i := range bytes {
		m |= 0xFF << (8 * i)
	}
	return m
}

func daysIn(mo, y int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseTime parses Exchange's UTC timestamp "2019-05-02T06:32:10.118Z"
// with a hand-written fast path, falling back to RFC 3339.
func parseTime(b []byte) (time.Time, bool) {
	// Fast path: YYYY-MM-DDTHH:MM:SS[.fff...]Z
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && (b[10] == 'T' || b[10] == ' ') &&
		b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		y, ok1 := atoiN(b[0:4])
		mo, ok2 := atoiN(b[5:7])
		d, ok3 := atoiN(b[8:10])
		h, ok4 := atoiN(b[11:13])
		mi, ok5 := atoiN(b[14:16])
		s, ok6 := atoiN(b[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 61 {
			ns := 0
			rest := b[19 : len(b)-1]
			if len(rest) == 0 {
				return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), true
			}
			if rest[0] == '.' && len(rest) >= 2 && len(rest) <= 10 {
				frac, ok := atoiN(rest[1:])
				if ok {
					ns = frac
					for k := len(rest) - 1; k < 9; k++ {
						ns *= 10
					}
					return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC), true
				}
			}
		}
	}
	if len(b) == 0 || len(b) > 64 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func atoiN(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// MarshalText implements encoding.TextMarshaler.
func (e Event) MarshalText() ([]byte, error) { return []byte{byte(e)}, nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (e *Event) UnmarshalText(b []byte) error {
	if len(b) != 1 || !Event(b[0]).valid() {
		return fmt.Errorf("%w: event %q", ErrBadRow, truncateForError(b))
	}
	*e = Event(b[0])
	return nil
}
