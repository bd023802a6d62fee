package protolog

import (
	"bytes"
	"slices"
)

// The fast path (engine.line). Most rows of a protocol log are routine
// traffic inside a session that is already open: MAIL FROM, RCPT TO, DATA,
// their 250/354 replies, QUIT. Such a row changes its session only in the
// row count, the times, the files and the first endpoints. quickRow finds
// the first seven columns with one comma search each, takes the event and
// the session id from them and decides from the first bytes of the data
// column whether the row is routine; only rows that may matter (session
// boundaries, '*' rows with certificates and TLS outcomes, EHLO, STARTTLS,
// replies 220 and 250 while capabilities are read, 4xx/5xx, a reply code
// not seen before, anything quoted or unusual) go through splitCSV and the
// tracker. Nothing on the fast path allocates. It gives the same Summary as
// the full decode (TestQuickEqualsFull, FuzzQuickEqualsFull).

// quickRow applies line as a routine row if it is one; false: it needs the
// full decode (nothing was changed).
func (e *engine) quickRow(fs *fileState, line []byte) bool {
	var cols [colEvent + 1][]byte
	start := 0
	for k := range cols {
		if start < len(line) && line[start] == '"' {
			return false
		}
		j := bytes.IndexByte(line[start:], ',')
		if j < 0 {
			return false
		}
		cols[k] = line[start : start+j]
		start += j + 1
	}
	ev := cols[colEvent]
	sess := cols[colSession]
	if len(ev) != 1 || (ev[0] != byte(EventSend) && ev[0] != byte(EventReceive)) || len(sess) == 0 {
		return false
	}
	rest := line[start:]
	if bytes.IndexByte(rest, '"') >= 0 { // quoting in data or context: splitCSV decides
		return false
	}
	data := rest
	if j := bytes.IndexByte(rest, ','); j >= 0 {
		data = rest[:j]
	}
	dir := fs.info.Direction
	if dir == DirectionUnknown {
		return false
	}
	st := e.tr.open[dir][string(sess)]
	if st == nil || !st.routine(Event(ev[0]), dir, data) {
		return false
	}
	e.tr.touch(st, cols[colDateTime], cols[colLocal], cols[colRemote], fs.info.Name)
	st.CurCert = -1
	return true
}

// routine reports whether a '<' or '>' row with this data leaves the
// session as tracker.reply / tracker.command would: unchanged.
func (st *sessState) routine(ev Event, dir Direction, data []byte) bool {
	isReply := (dir == DirectionSend && ev == EventReceive) || (dir == DirectionReceive && ev == EventSend)
	if !isReply { // a command: EHLO, HELO, STARTTLS and X-ANONYMOUSTLS matter
		d := trimSpaceBytes(data)
		if len(d) == 0 {
			return true
		}
		switch d[0] | 0x20 {
		case 'e', 'h', 's', 'x':
			return false
		}
		return true
	}
	code, _, ok := parseReplyCode(data)
	if !ok {
		return true
	}
	if code >= 400 || code == 220 || !slices.Contains(st.S.ReplyCodes, code) {
		return false
	}
	if code == 250 {
		return !st.EHLOPending && st.CapsDone
	}
	return true
}
