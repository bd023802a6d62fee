package protolog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// The fast path (engine.line, files in the default column order). fastRow
// cuts a line into its columns in one pass: the commas up to the event
// found eight bytes at a time (cutPlain) until a quote, a quoted connector
// ("Partner, Inc. (TLS)") taken between its quotes (cutQuoted), and the
// data and context columns split with splitCSV only when they hold a quote. It then decides from the event and the first
// bytes of the data whether the row is routine traffic inside a session
// that is already open (MAIL FROM, RCPT TO, DATA, their 250/354 replies,
// QUIT): such a row changes its session only in the row count, the times,
// the files and the first endpoints, and goes no further. Every other row
// (session boundaries, '*' rows with certificates and TLS outcomes, EHLO,
// STARTTLS, replies 220 and 250 while capabilities are read, 4xx/5xx, a
// reply code not seen before) goes to the tracker with the columns already
// cut, never through a second split. Lines the fast path does not
// recognise (a doubled quote or bad quoting in the first seven columns, a
// bad event, an empty session id) take the full decode, which counts them.
// Nothing on the fast path allocates. It gives the same Summary as the
// full decode (TestQuickEqualsFull, FuzzQuickEqualsFull).

// fastRow applies line as a data row if it can; false: it needs the full
// decode (nothing was changed).
func (e *engine) fastRow(fs *fileState, line []byte) bool {
	// r is this call's own (on the stack: its fields are set without write
	// barriers); the tracker reads it only during the call.
	var r rawRow
	var ends [8]int
	ends[5], ends[6] = -1, -1
	start := 0
	if conn, s0, ok := e.conns.cutAt(line, &ends); ok {
		// (the sequence number is not read here, the local endpoint not
		// with CheckView)
		r.time, r.connector, r.session, r.remote = line[:canonicalTimeLen], conn, line[s0:ends[0]], line[ends[2]+1:ends[3]]
		if !e.tr.check {
			r.local = line[ends[1]+1 : ends[2]]
		}
		if ends[4] != ends[3]+2 {
			return false // an event of other than one byte: bad
		}
		r.event, r.timed = Event(line[ends[3]+1]), true // the time was found canonical
		start = ends[4] + 1
	} else {
		ends[5], ends[6] = -1, -1 // (cutAt may have set them before it gave up)
		var cols [colEvent + 1][]byte
		if start, ok = cutColumns(line, cols[:]); !ok {
			return false
		}
		e.conns.learn(line, cols[colDateTime], cols[colConnector])
		if len(cols[colEvent]) != 1 {
			return false
		}
		r.time, r.connector, r.session, r.seq = cols[colDateTime], cols[colConnector], cols[colSession], cols[colSeq]
		r.local, r.remote, r.event = cols[colLocal], cols[colRemote], Event(cols[colEvent][0])
	}
	if !r.event.valid() || len(r.session) == 0 {
		return false
	}
	// A field is quoted when it starts with a quote (a quote inside an
	// unquoted field is literal): only then, and for columns past the
	// context that hold a quote (whose bad quoting makes the row bad), does
	// splitCSV look at the rest.
	// cutAt may have found the commas ending the data and the context
	// (ends[5], ends[6]: len(line) when there is none, -1 when not known).
	rest := line[start:]
	var data, ctx []byte
	quoted := len(rest) > 0 && rest[0] == '"'
	if !quoted {
		j := ends[5]
		if j < 0 {
			if j = bytes.IndexByte(rest, ','); j >= 0 {
				j += start
			} else {
				j = len(line)
			}
		}
		data = line[start:j]
		if j < len(line) {
			ctx = line[j+1:]
			if len(ctx) > 0 && ctx[0] == '"' {
				quoted = true
			} else {
				k := ends[6]
				if ends[5] < 0 || k < 0 {
					if k = bytes.IndexByte(ctx, ','); k >= 0 {
						k += j + 1
					} else {
						k = len(line)
					}
				}
				if k < len(line) {
					quoted = bytes.IndexByte(line[k+1:], '"') >= 0
					ctx = line[j+1 : k]
				}
			}
		}
	}
	if quoted && len(rest) > 0 && rest[0] == '"' {
		// A quoted data column without doubled quotes (a certificate's
		// subject, a banner, a TLS outcome), an unquoted context and no
		// quote after it: splitCSV's columns, without splitCSV.
		if j := bytes.IndexByte(rest[1:], '"'); j >= 0 {
			q := 1 + j // the closing quote
			switch {
			case q+1 == len(rest):
				data, ctx, quoted = rest[1:q], nil, false
			case rest[q+1] == ',':
				if after := rest[q+2:]; len(after) == 0 || after[0] != '"' {
					if k := bytes.IndexByte(after, ','); k < 0 {
						data, ctx, quoted = rest[1:q], after, false
					} else if bytes.IndexByte(after[k+1:], '"') < 0 {
						data, ctx, quoted = rest[1:q], after[:k], false
					}
				}
			}
		}
	}
	if quoted {
		sp := &e.sp
		if cap(sp.scratch) < len(rest) {
			sp.scratch = make([]byte, 0, len(rest)+len(rest)/2)
		}
		n, err := splitCSV(rest, sp.cols[:2], sp.scratch[:0])
		if err != nil {
			return false
		}
		data, ctx = sp.cols[0], nil
		if n > 1 {
			ctx = sp.cols[1]
		}
	}
	dir := fs.info.Direction
	event := r.event
	st := e.tr.lookup(dir, r.session)
	if st != nil && ((event == EventInfo && inertInfo(data, ctx)) ||
		(dir != DirectionUnknown && (event == EventSend || event == EventReceive) && st.routine(event, dir, data, e.tr.check))) {
		e.tr.touch(st, r.time, r.timed, r.local, r.remote, fs.info.Name)
		st.CurCert = -1
		return true
	}
	r.data, r.context = data, ctx
	e.tr.rowOf(st, &r, dir, fs.info.Name)
	return true
}

// connCache holds the connector columns of the last lines cutColumns cut
// (a log has a handful of connectors), each as its raw bytes (quotes
// included) and its value.
type connCache struct {
	ents [connCacheSize]connEnt
	n    int // entries in use
	next int // the entry learn replaces when all are in use

	// clock holds the first sixteen bytes ("YYYY-MM-DDTHH:MM") of the last
	// time cut found canonical (when clockOK), as two little-endian words:
	// rows share them for a minute, and then only the seconds are checked.
	clock   [2]uint64
	clockOK bool
}

type connEnt struct {
	raw []byte // owned copy; val aliases it
	val []byte
	// head is raw's first bytes (at most eight, little-endian), mask
	// selects them: a word of the line is compared before raw is.
	head, mask uint64
}

const (
	connCacheSize = 8
	maxCachedConn = 256 // longest connector column kept
)

// cut is cutAt giving cutColumns' columns (the tests' form).
func (c *connCache) cut(line []byte, cols *[colEvent + 1][]byte) (start int, ok bool) {
	var ends [8]int
	conn, s0, ok := c.cutAt(line, &ends)
	if !ok {
		return 0, false
	}
	cols[colDateTime], cols[colConnector] = line[:canonicalTimeLen], conn
	cols[colSession] = line[s0:ends[0]]
	for k := colSeq; k <= colEvent; k++ {
		cols[k] = line[ends[k-colSeq]+1 : ends[k-colSession]]
	}
	return ends[4] + 1, true
}

// cutAt cuts the columns up to the event of a line in the shape nearly
// every row has: a canonical time (canonicalTime) and its comma, a
// connector column connCache learnt, byte for byte, then session,
// sequence, endpoints and event each not starting with a quote. It gives
// the connector's value (aliasing the cache), where the session starts
// (s0) and the commas ending the session, sequence, local, remote and
// event columns (ends[0..4]): the columns cutColumns gives. Such a row
// costs a word compare or two and one pass over the five short columns:
// the commas of 64 bytes at once as a bitmap when the line's capacity
// holds them (commaBitmap), else eight bytes at a time. From the bitmap
// it also gives the next two commas (ends[5], ends[6]: those ending the
// data and the context, len(line) when the line has none, -1 when not
// known). ok false: the line is not of that shape
// (cutColumns decides); the time is canonical when ok is true.
func (c *connCache) cutAt(line []byte, ends *[8]int) (conn []byte, s0 int, ok bool) {
	const t = canonicalTimeLen
	if len(line) < t+1+8 || line[t] != ',' {
		return nil, 0, false
	}
	rest := line[t+1:]
	w := binary.LittleEndian.Uint64(rest)
	var e *connEnt
	for i := range c.n {
		x := &c.ents[i]
		if n := len(x.raw); w&x.mask == x.head && len(rest) > n && rest[n] == ',' && string(rest[:n]) == string(x.raw) {
			e = x
			break
		}
	}
	if e == nil || !c.canonical(line[:t]) {
		return nil, 0, false
	}
	s0 = t + 2 + len(e.raw)
	ends[5], ends[6] = -1, -1
	if cap(line)-s0 >= commaWindow {
		// The commas of the 64 bytes from the session on as one bitmap
		// (bytes past the line, up to its capacity, are read and masked
		// off): the five columns' and, when they are in it, the data's and
		// the context's.
		wa := (*[commaWindow]byte)(line[s0 : s0+commaWindow : s0+commaWindow])
		b := commaBitmap(wa)
		if n := len(line) - s0; n < commaWindow {
			b &= 1<<n - 1
		}
		if bits.OnesCount64(b) >= 5 {
			// The five columns' commas at c0 < ... < c4 < 64 from s0: the
			// columns after the first start in the window, and none of the
			// five may start with a quote (cutColumns' then).
			c0 := bits.TrailingZeros64(b)
			b &= b - 1
			c1 := bits.TrailingZeros64(b)
			b &= b - 1
			c2 := bits.TrailingZeros64(b)
			b &= b - 1
			c3 := bits.TrailingZeros64(b)
			b &= b - 1
			c4 := bits.TrailingZeros64(b)
			b &= b - 1
			if wa[0] == '"' || wa[(c0+1)&(commaWindow-1)] == '"' || wa[(c1+1)&(commaWindow-1)] == '"' ||
				wa[(c2+1)&(commaWindow-1)] == '"' || wa[(c3+1)&(commaWindow-1)] == '"' {
				return nil, 0, false
			}
			ends[0], ends[1], ends[2], ends[3], ends[4] = s0+c0, s0+c1, s0+c2, s0+c3, s0+c4
			switch {
			case b != 0:
				ends[5] = s0 + bits.TrailingZeros64(b)
				b &= b - 1
				if b != 0 {
					ends[6] = s0 + bits.TrailingZeros64(b)
				} else if len(line) <= s0+commaWindow {
					ends[6] = len(line)
				}
			case len(line) <= s0+commaWindow:
				ends[5] = len(line)
			}
			return e.val, s0, true
		}
		if len(line) <= s0+commaWindow {
			return nil, 0, false // fewer than five commas after the connector
		}
	}
	// The commas of the five columns in one pass over their bytes, eight
	// at a time (every comma of a word from one mask).
	{
		const commas = 0x0101010101010101 * ','
		k := 0
		i := s0
		for ; i+8 <= len(line); i += 8 {
			for m := zeroBytes(binary.LittleEndian.Uint64(line[i:]) ^ commas); m != 0; m &= m - 1 {
				ends[k&7] = i + bits.TrailingZeros64(m)>>3
				if k++; k == 5 {
					goto found
				}
			}
		}
		for ; i < len(line); i++ {
			if line[i] == ',' {
				ends[k&7] = i
				if k++; k == 5 {
					goto found
				}
			}
		}
	}
	return nil, 0, false
found:
	// A column starting with a quote is cutColumns' (ends[4] + 1 <= len(line)).
	if line[s0] == '"' || line[ends[0]+1] == '"' || line[ends[1]+1] == '"' || line[ends[2]+1] == '"' || line[ends[3]+1] == '"' {
		return nil, 0, false
	}
	return e.val, s0, true
}

// canonical is canonicalTime(b), checking only the seconds when b's first
// sixteen bytes are those of the last time found canonical (the same
// date, hour and minute: canonicalClock's checks of them would give the
// same again).
func (c *connCache) canonical(b []byte) bool {
	if len(b) != canonicalTimeLen {
		return false
	}
	w0, w1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if c.clockOK && w0 == c.clock[0] && w1 == c.clock[1] {
		const highs = 0x8080808080808080
		x, m := binary.LittleEndian.Uint64(b[16:]), canonDigits[2]
		if x&^m != canonSeps[2] || x&highs != 0 {
			return false
		}
		if hm := m & highs; (x+0x4646464646464646)&hm != 0 || (x+0x5050505050505050)&hm != hm {
			return false
		}
		return b[17] <= '5'
	}
	if !canonicalTime(b) {
		return false
	}
	c.clock, c.clockOK = [2]uint64{w0, w1}, true
	return true
}

// learn remembers the connector column of a line cutColumns cut (tm and
// conn are its time's and connector's values), if its time column is
// unquoted and has a canonical time's length (so that the connector
// column starts right after it).
func (c *connCache) learn(line, tm, conn []byte) {
	const t = canonicalTimeLen
	if len(tm) != t || len(line) <= t+1 || line[0] == '"' || line[t] != ',' {
		return
	}
	n, quoted := len(conn), line[t+1] == '"'
	if quoted {
		n += 2
	}
	if n == 0 || n > maxCachedConn || t+1+n >= len(line) || line[t+1+n] != ',' {
		return
	}
	i := c.n
	if i == connCacheSize {
		i, c.next = c.next, (c.next+1)%connCacheSize
	} else {
		c.n++
	}
	e := &c.ents[i]
	e.raw = append(e.raw[:0], line[t+1:t+1+n]...)
	e.val = e.raw
	var h [8]byte
	k := copy(h[:], e.raw)
	e.head, e.mask = binary.LittleEndian.Uint64(h[:]), ^uint64(0)>>(64-8*k)
	if quoted {
		e.val = e.raw[1 : n-1]
	}
}

// cutColumns cuts the first len(cols) columns of line (default order), each
// unquoted or quoted without doubled quotes and followed by a comma, and
// returns where the next column starts; false: a column is not of that
// form (only the full decode knows the line). Where it succeeds its
// columns are splitCSV's.
func cutColumns(line []byte, cols [][]byte) (int, bool) {
	if len(cols) == 0 {
		return 0, true
	}
	start, k := cutPlain(line, cols)
	if k == len(cols) {
		return start, true
	}
	return cutQuoted(line, cols, start, k)
}

// cutPlain cuts the leading columns that hold no quote, finding the commas
// eight bytes at a time (every comma of a word from one mask). It stops at
// a quote or when the commas run out, and returns the columns it cut
// (k < len(cols) then) and where the next starts, for cutQuoted to go on.
func cutPlain(line []byte, cols [][]byte) (start, k int) {
	const commas, quotes = 0x0101010101010101 * ',', 0x0101010101010101 * '"'
	i := 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:])
		c, q := zeroBytes(x^commas), zeroBytes(x^quotes)
		for c != 0 {
			bit := c & -c
			if q&(bit-1) != 0 { // a quote before this comma
				return start, k
			}
			pos := i + bits.TrailingZeros64(c)>>3
			cols[k] = line[start:pos]
			start, k = pos+1, k+1
			if k == len(cols) {
				return start, k
			}
			c &^= bit
		}
		if q != 0 {
			return start, k
		}
	}
	for ; i < len(line); i++ {
		switch line[i] {
		case '"':
			return start, k
		case ',':
			cols[k] = line[start:i]
			start, k = i+1, k+1
			if k == len(cols) {
				return start, k
			}
		}
	}
	return start, k
}

// commaWindow is how many bytes commaBitmap looks at.
const commaWindow = 64

// commaBitmap has bit i set where b[i] is a comma.
func commaBitmap(b *[commaWindow]byte) uint64 {
	return commaByte(binary.LittleEndian.Uint64(b[0:])) | commaByte(binary.LittleEndian.Uint64(b[8:]))<<8 |
		commaByte(binary.LittleEndian.Uint64(b[16:]))<<16 | commaByte(binary.LittleEndian.Uint64(b[24:]))<<24 |
		commaByte(binary.LittleEndian.Uint64(b[32:]))<<32 | commaByte(binary.LittleEndian.Uint64(b[40:]))<<40 |
		commaByte(binary.LittleEndian.Uint64(b[48:]))<<48 | commaByte(binary.LittleEndian.Uint64(b[56:]))<<56
}

// commaByte has bit i set where byte i of x is a comma: zeroBytes' high
// bits gathered into the low byte (the multiplier moves bit 8i to bit
// 56+i; no two products share a bit, so nothing carries).
func commaByte(x uint64) uint64 {
	const commas = 0x0101010101010101 * ','
	return (zeroBytes(x^commas) >> 7) * 0x0102040810204080 >> 56
}

// zeroBytes has the high bit of each zero byte of x set and no other bit
// (exact, unlike the borrow trick nextComma uses for the first zero only).
func zeroBytes(x uint64) uint64 {
	const lows = 0x7F7F7F7F7F7F7F7F
	return ^((x&lows + lows) | x | lows)
}

// cutQuoted is cutColumns column by column (quoted columns included) from
// column k, which starts at start.
func cutQuoted(line []byte, cols [][]byte, start, k int) (int, bool) {
	for ; k < len(cols); k++ {
		if start < len(line) && line[start] == '"' {
			j := bytes.IndexByte(line[start+1:], '"')
			if j < 0 {
				return 0, false
			}
			end := start + 1 + j
			if end+1 >= len(line) || line[end+1] != ',' {
				return 0, false
			}
			cols[k] = line[start+1 : end]
			start = end + 2
			continue
		}
		j := nextComma(line, start)
		if j < 0 {
			return 0, false
		}
		cols[k] = line[start:j]
		start = j + 1
	}
	return start, true
}

// inertInfo reports whether a '*' row with this data and context changes
// its session as tracker.info would: only in ending a certificate block
// (and in what touch changes). Its context is no certificate label (those
// start with 'S', 'R' or 'C', either case) and neither column is a TLS
// outcome or certificate status (shorter than ten bytes, or starting with
// neither 'T' nor 'C', either case, and without '=').
func inertInfo(data, ctx []byte) bool {
	c := trimSpaceBytes(ctx)
	if len(c) >= len(ctxRemoteCert) {
		switch c[0] | 0x20 {
		case 's', 'r', 'c':
			return false
		}
	}
	return inertOutcome(c) && inertOutcome(trimSpaceBytes(data))
}

// inertOutcome: tracker.outcome leaves everything as it is for b (trimmed).
func inertOutcome(b []byte) bool {
	if len(b) < 10 {
		return true
	}
	switch b[0] | 0x20 {
	case 't', 'c':
		return false
	}
	return bytes.IndexByte(b, '=') < 0
}

// routine reports whether a '<' or '>' row with this data leaves the
// session as tracker.reply / tracker.command would: unchanged (check: in
// what CheckView keeps; a reply code seen for the first time changes only
// ReplyCodes).
func (st *sessState) routine(ev Event, dir Direction, data []byte, check bool) bool {
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
	switch {
	case code >= 400:
		return false
	case code == 220:
		if !check || (st.S.RemoteName == "" && st.S.Direction != DirectionReceive) {
			return false
		}
	case !check && !slices.Contains(st.S.ReplyCodes, code):
		return false
	}
	if code == 250 {
		return !st.EHLOPending && st.CapsDone
	}
	return true
}

// nextComma returns the index of the first ',' in b at or after i, or -1.
// Columns before the data are short (a sequence number, an event, an
// endpoint): eight bytes at a time beats a call to bytes.IndexByte there.
func nextComma(b []byte, i int) int {
	const ones, highs, commas = 0x0101010101010101, 0x8080808080808080, 0x0101010101010101 * ','
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:]) ^ commas
		// The lowest byte of x that is zero sets the lowest high bit here
		// (bits above it may be set by the borrow; they are not looked at).
		if m := (x - ones) &^ x & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ',' {
			return i
		}
	}
	return -1
}
