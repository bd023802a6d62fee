package protolog

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"time"
)

// Per-session bounds: a hostile or broken log cannot make one session grow
// without limit. Excess items are dropped and Session.Truncated is set.
const (
	maxCertsPerSession   = 8
	maxRepliesPerSession = 32
	maxCodesPerSession   = 32
	maxCapsPerSession    = 64
	maxFilesPerSession   = 16
	maxValueLen          = 4096
	maxConnectorIntern   = 4096
)

// TLSOutcome is the result of the STARTTLS handshake as logged.
type TLSOutcome struct {
	Succeeded bool      `json:"succeeded,omitempty"`
	Failed    bool      `json:"failed,omitempty"`
	Status    string    `json:"status,omitempty"`   // SSPI status on failure: NoCredentials, UnknownCredentials, SocketError, ...
	Protocol  string    `json:"protocol,omitempty"` // on success: SP_PROT_TLS1_2_CLIENT, ...
	Detail    string    `json:"detail,omitempty"`   // the full outcome text
	Time      time.Time `json:"time,omitzero"`
}

// Session is everything mxprobe extracts from one SMTP session.
type Session struct {
	ID         string    `json:"id"`
	Direction  Direction `json:"direction"`
	Connector  string    `json:"connector"`
	Local      string    `json:"local,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	RemoteName string    `json:"remoteName,omitempty"` // peer's 220 banner host (send) or EHLO/HELO name (receive)
	Start      time.Time `json:"start,omitzero"`
	End        time.Time `json:"end,omitzero"`
	Files      []string  `json:"files,omitempty"` // log files the session's rows came from, in order
	Rows       int       `json:"rows"`
	// Closed is true when the '-' (disconnect) row was seen; false when the
	// session was flushed because input ended, it went idle, or the open
	// session cap was hit.
	Closed bool `json:"closed"`

	EHLOSeen        bool     `json:"ehloSeen,omitempty"`
	StartTLSOffered bool     `json:"startTlsOffered,omitempty"` // STARTTLS in the EHLO reply
	StartTLSIssued  bool     `json:"startTlsIssued,omitempty"`  // STARTTLS or X-ANONYMOUSTLS command seen
	Capabilities    []string `json:"capabilities,omitempty"`    // first EHLO reply, e.g. "SIZE 37748736", "STARTTLS"

	Certificates []Certificate `json:"certificates,omitempty"`
	TLS          TLSOutcome    `json:"tls"`

	ReplyCodes []int   `json:"replyCodes,omitempty"` // distinct reply codes in order of first appearance
	Replies    []Reply `json:"replies,omitempty"`    // distinct 4xx/5xx reply lines

	// Receive side: "Client certificate chain validation status: 'X'".
	ClientCertChainStatus string `json:"clientCertChainStatus,omitempty"`
	// Receive side: "TlsDomainCapabilities='X'; Status='Y'".
	TLSDomainCapabilities string `json:"tlsDomainCapabilities,omitempty"`
	RemoteCertStatus      string `json:"remoteCertStatus,omitempty"`

	Truncated bool `json:"truncated,omitempty"` // a per-session bound dropped data
}

// SentCertificate returns the last certificate this server presented
// ("Sending certificate"), or nil.
func (s *Session) SentCertificate() *Certificate { return s.lastCert(CertRoleLocal) }

// PeerCertificate returns the last certificate the peer presented, or nil.
func (s *Session) PeerCertificate() *Certificate { return s.lastCert(CertRoleRemote) }

func (s *Session) lastCert(r CertRole) *Certificate {
	for i := len(s.Certificates) - 1; i >= 0; i-- {
		if s.Certificates[i].Role == r {
			return &s.Certificates[i]
		}
	}
	return nil
}

// RemoteHost returns the remote endpoint without its port.
func (s *Session) RemoteHost() string { return hostOnly(s.Remote) }

// HasReply reports whether a reply with this code (and enhanced code, if
// non-empty) was seen. Codes < 400 are only matched by ReplyCodes.
func (s *Session) HasReply(code int, enhanced string) bool {
	if enhanced == "" {
		return slices.Contains(s.ReplyCodes, code)
	}
	for _, r := range s.Replies {
		if r.Code == code && r.Enhanced == enhanced {
			return true
		}
	}
	return false
}

func hostOnly(ep string) string {
	if h, _, err := net.SplitHostPort(ep); err == nil {
		return h
	}
	return ep
}

// sessState is a session under construction. It is serialisable so the
// Tailer can persist open sessions across restarts.
type sessState struct {
	S           Session   `json:"s"`
	Ord         int64     `json:"ord"`
	CurCert     int       `json:"curCert"`
	EHLOPending bool      `json:"ehloPending,omitempty"`
	EHLOLine    int       `json:"ehloLine,omitempty"`
	CapsDone    bool      `json:"capsDone,omitempty"`
	Seen        time.Time `json:"seen,omitzero"` // wall clock of last row (Tailer only)

	// Chunked parsing (parallel.go): offsets in the chunk of the first and
	// the closing row (-1: open), whether it is the first session of its
	// id in the chunk, and whether the merger found it continues a carried one.
	pos, closePos           int64
	firstInChunk, continued bool

	// Lazy times (touch): the earliest and latest canonical row times
	// (canonicalTime) as their bytes, which order as the times do; parsed
	// into S.Start/S.End by settle.
	rawStart, rawEnd [canonicalTimeLen]byte
	rawTimes         bool

	// live: in a tracker's open set (set where a session is put there,
	// cleared by close); what tracker.lookup's cache checks, with key (the
	// id's, set where the cache takes the session).
	live bool
	key  idKey
}

// settle folds the lazy times into S.Start and S.End as touch would have
// applied them row by row: every canonical time is after the zero time, so
// the earliest of them is S.Start unless an earlier one is already there,
// and the latest is S.End unless a later one is.
func (st *sessState) settle(days *dayCache) {
	if !st.rawTimes {
		return
	}
	st.rawTimes = false
	s := &st.S
	if tm, ok := days.parse(st.rawStart[:]); ok && (s.Start.IsZero() || tm.Before(s.Start)) {
		s.Start = tm
	}
	if tm, ok := days.parse(st.rawEnd[:]); ok && tm.After(s.End) {
		s.End = tm
	}
}

// tracker groups rows into sessions. Not safe for concurrent use.
type tracker struct {
	open     [3]map[string]*sessState
	nOpen    int
	ord      int64
	maxOpen  int
	emit     func(*sessState)
	now      func() time.Time // wall clock for Seen; nil in batch parsing
	conn     map[string]string
	lastConn string
	stats    *Stats
	vals     *valueCache // nil: every value computed (tests' full decode)
	eager    bool        // tests' full decode: every row's time parsed in touch, no lookup cache
	// check: the sessions' consumer reads only what CheckView keeps
	// (Parser.CheckView, checkview.go): what nothing else reads is not kept.
	check bool

	// Chunked parsing hooks (parallel.go): the current row's offset, called
	// after a session is created and before one is emitted.
	pos     int64
	created func(*sessState)
	closed  func(*sessState)

	days dayCache

	// recent caches open sessions by a cheap hash of their id (lookup), in
	// front of the open map: a row's session is mostly one of the few dozen
	// in flight, and this costs a multiply and a compare, not a map probe.
	recent [recentSlots]*sessState
}

const recentSlots = 256

// lookup returns the open session of this direction and id, or nil.
// The full decode (eager) goes to the map alone: the reference the cache
// is compared against (FuzzQuickEqualsFull).
func (t *tracker) lookup(dir Direction, id []byte) *sessState {
	if t.eager {
		return t.open[dir][string(id)]
	}
	k := keyOf(id)
	i := k.slot()
	if st := t.recent[i]; st != nil && st.live && st.S.Direction == dir && st.key == k && (k.n <= 16 || st.S.ID == string(id)) {
		return st
	}
	st := t.open[dir][string(id)]
	if st != nil {
		st.live = true
		st.key = k
		t.recent[i] = st
	}
	return st
}

// idKey is a session id's length and its first and last eight bytes
// (bytes packed into lo when shorter than eight): for ids of at most
// sixteen bytes (Exchange's have sixteen) equal keys mean equal ids.
type idKey struct {
	lo, hi uint64
	n      int
}

func keyOf(id []byte) idKey {
	k := idKey{n: len(id)}
	if len(id) >= 8 {
		k.lo, k.hi = binary.LittleEndian.Uint64(id), binary.LittleEndian.Uint64(id[len(id)-8:])
		return k
	}
	for _, c := range id {
		k.lo = k.lo<<8 | uint64(c)
	}
	return k
}

// slot hashes a session id for tracker.recent: its last eight bytes
// (Exchange's ids are 16 hex digits, the low ones vary) and its length.
func (k idKey) slot() int {
	x := k.hi
	if k.n < 8 {
		x = k.lo
	}
	x ^= uint64(k.n)
	return int((x * 0x9E3779B97F4A7C15) >> 56) // recentSlots == 1<<8
}

func newTracker(maxOpen int, stats *Stats, emit func(*sessState)) *tracker {
	t := &tracker{maxOpen: maxOpen, emit: emit, stats: stats, conn: make(map[string]string)}
	for i := range t.open {
		t.open[i] = make(map[string]*sessState)
	}
	return t
}

func (t *tracker) intern(b []byte) string {
	if string(b) == t.lastConn {
		return t.lastConn
	}
	if s, ok := t.conn[string(b)]; ok {
		t.lastConn = s
		return s
	}
	s := string(b)
	if len(t.conn) < maxConnectorIntern {
		t.conn[s] = s
	}
	t.lastConn = s
	return s
}

func (t *tracker) add(st *sessState) {
	if t.nOpen >= t.maxOpen {
		t.evict()
	}
	t.open[st.S.Direction][st.S.ID] = st
	t.nOpen++
	st.live = true
}

// evict flushes the least recently active quarter of open sessions.
func (t *tracker) evict() {
	all := make([]*sessState, 0, t.nOpen)
	for _, m := range t.open {
		for _, st := range m {
			st.settle(&t.days)
			all = append(all, st)
		}
	}
	slices.SortFunc(all, func(a, b *sessState) int {
		if c := a.S.End.Compare(b.S.End); c != 0 {
			return c
		}
		return int(a.Ord - b.Ord)
	})
	n := len(all)/4 + 1
	for _, st := range all[:min(n, len(all))] {
		t.stats.Evicted++
		t.close(st, false)
	}
}

func (t *tracker) close(st *sessState, closed bool) {
	st.settle(&t.days)
	st.S.Closed = closed
	st.live = false
	delete(t.open[st.S.Direction], st.S.ID)
	t.nOpen--
	t.stats.Sessions++
	if t.closed != nil {
		t.closed(st)
	}
	t.emit(st)
}

// flushIdle flushes sessions whose wall-clock Seen is before cutoff.
func (t *tracker) flushIdle(cutoff time.Time) {
	var idle []*sessState
	for _, m := range t.open {
		for _, st := range m {
			if st.Seen.Before(cutoff) {
				idle = append(idle, st)
			}
		}
	}
	slices.SortFunc(idle, func(a, b *sessState) int { return int(a.Ord - b.Ord) })
	for _, st := range idle {
		t.close(st, false)
	}
}

// flushAll flushes every open session in creation order.
func (t *tracker) flushAll() {
	t.flushIdle(time.Unix(1<<62, 0))
}

func (t *tracker) openStates() []*sessState {
	var all []*sessState
	for _, m := range t.open {
		for _, st := range m {
			st.settle(&t.days)
			all = append(all, st)
		}
	}
	slices.SortFunc(all, func(a, b *sessState) int { return int(a.Ord - b.Ord) })
	return all
}

// row applies one data row to its session.
func (t *tracker) row(r *rawRow, dir Direction, file string) {
	t.rowOf(t.lookup(dir, r.session), r, dir, file)
}

// rowOf is row with the row's open session looked up (nil: none).
func (t *tracker) rowOf(st *sessState, r *rawRow, dir Direction, file string) {
	if st == nil {
		st = &sessState{Ord: t.ord, CurCert: -1}
		t.ord++
		st.S.ID = string(r.session)
		st.S.Direction = dir
		st.S.Connector = t.intern(r.connector)
		t.add(st)
		if t.created != nil {
			t.created(st)
		}
	}
	t.touch(st, r.time, r.timed, r.local, r.remote, file)
	switch r.event {
	case EventDisconnect:
		st.CurCert = -1
		t.close(st, true)
	case EventConnect:
		st.CurCert = -1
	case EventInfo:
		var tm time.Time // certificate and TLS outcome times: not CheckView's
		if !t.check {
			if p, ok := t.days.parse(r.time); ok {
				tm = p
			}
		}
		t.info(st, r, tm)
	case EventSend, EventReceive:
		st.CurCert = -1
		data := r.data
		isReply := (dir == DirectionSend && r.event == EventReceive) ||
			(dir == DirectionReceive && r.event == EventSend)
		if dir == DirectionUnknown {
			_, _, isReply = parseReplyCode(data)
		}
		if isReply {
			t.reply(st, data)
		} else {
			t.command(st, data)
		}
	}
}

// touch applies what every row of a session changes: the row count, the
// times, the files and the first endpoints. A canonical time is kept as
// bytes (compared as bytes, parsed once per session by settle); any other
// is parsed here, after the lazy ones are settled, so the order in which
// times reach S.Start and S.End is the rows' order. timed: rtime is known
// to be canonical.
func (t *tracker) touch(st *sessState, rtime []byte, timed bool, local, remote []byte, file string) {
	s := &st.S
	s.Rows++
	if t.now != nil {
		st.Seen = t.now()
	}
	if !t.eager && (timed || canonicalTime(rtime)) {
		tm := [canonicalTimeLen]byte(rtime)
		switch {
		case !st.rawTimes:
			st.rawTimes = true
			st.rawStart, st.rawEnd = tm, tm
		case cmpCanonical(&tm, &st.rawEnd) > 0:
			st.rawEnd = tm
		case cmpCanonical(&tm, &st.rawStart) < 0:
			st.rawStart = tm
		}
	} else if tm, ok := t.days.parse(rtime); ok {
		st.settle(&t.days)
		if s.Start.IsZero() || tm.Before(s.Start) {
			s.Start = tm
		}
		if tm.After(s.End) {
			s.End = tm
		}
	}
	if t.check { // Files and Local are not CheckView's
		if s.Remote == "" && len(remote) > 0 {
			s.Remote = capString(remote)
		}
		return
	}
	if n := len(s.Files); n == 0 || s.Files[n-1] != file {
		if n < maxFilesPerSession {
			s.Files = append(s.Files, file)
		} else {
			s.Truncated = true
		}
	}
	if s.Local == "" && len(local) > 0 {
		s.Local = capString(local)
	}
	if s.Remote == "" && len(remote) > 0 {
		s.Remote = capString(remote)
	}
}

// cmpCanonical is bytes.Compare of two canonical times, three words at a
// time.
func cmpCanonical(a, b *[canonicalTimeLen]byte) int {
	for i := 0; i < canonicalTimeLen; i += 8 {
		x, y := binary.BigEndian.Uint64(a[i:]), binary.BigEndian.Uint64(b[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func capString(b []byte) string {
	if len(b) > maxValueLen {
		b = b[:maxValueLen]
	}
	return string(b)
}

func (t *tracker) info(st *sessState, r *rawRow, tm time.Time) {
	s := &st.S
	ctx := trimSpaceBytes(r.context)
	data := r.data
	if len(ctx) >= len(ctxRemoteCert) { // shortest label
		if role, label, condensed, ok := certBlockRole(ctx); ok {
			if len(s.Certificates) >= maxCertsPerSession {
				s.Truncated = true
				st.CurCert = -1
				return
			}
			var c Certificate
			st.CurCert = -1
			if condensed {
				if !t.check || role == CertRoleLocal { // CheckView keeps the sent certificate only
					c = t.vals.condensed(data)
				}
			} else {
				st.CurCert = len(s.Certificates)
			}
			c.Role, c.Label, c.Time = role, label, tm
			if s.Certificates == nil {
				s.Certificates = make([]Certificate, 0, 2)
			}
			s.Certificates = append(s.Certificates, c)
			return
		}
		if hasPrefixFold(ctx, "Certificate ") && t.certField(st, ctx, data, tm) {
			return
		}
	}
	st.CurCert = -1
	t.outcome(s, data, tm)
	t.outcome(s, ctx, tm)
}

// certField applies a "Certificate xxx" row; reports whether ctx was one.
func (t *tracker) certField(st *sessState, ctx, data []byte, tm time.Time) bool {
	var field int
	switch {
	case equalFoldASCII(ctx, ctxSubject):
		field = 1
	case equalFoldASCII(ctx, ctxIssuer):
		field = 2
	case equalFoldASCII(ctx, ctxSerial):
		field = 3
	case equalFoldASCII(ctx, ctxThumbprint):
		field = 4
	case equalFoldASCII(ctx, ctxAltNames):
		field = 5
	default:
		return false
	}
	s := &st.S
	var c *Certificate
	if st.CurCert >= 0 && st.CurCert < len(s.Certificates) {
		c = &s.Certificates[st.CurCert]
		// A repeated field means a new, header-less block started.
		if (field == 1 && c.Subject != "") || (field == 2 && c.Issuer != "") || (field == 3 && c.SerialNumber != "") ||
			(field == 4 && c.Thumbprint != "") || (field == 5 && c.AlternateNames != nil) {
			c = nil
		}
	}
	if c == nil {
		if len(s.Certificates) >= maxCertsPerSession {
			s.Truncated = true
			return true
		}
		s.Certificates = append(s.Certificates, Certificate{Time: tm})
		st.CurCert = len(s.Certificates) - 1
		c = &s.Certificates[st.CurCert]
	}
	d := trimSpaceBytes(data)
	// CheckView keeps the sent certificate's subject, issuer and
	// thumbprint: any other field only needs to be there or not (a
	// repeated field starts a new certificate).
	placeholder := t.check && (field == 3 || field == 5 || (c.Role != CertRoleLocal && field != 4))
	var v string
	switch {
	case !placeholder:
		v = t.vals.strAt(slotCert+field-1+5*min(max(st.CurCert, 0), maxCertsPerSession-1), d)
	case len(d) > 0:
		v = checkPlaceholder
	}
	switch field {
	case 1:
		c.Subject = v
	case 2:
		c.Issuer = v
	case 3:
		c.SerialNumber = v
	case 4:
		c.Thumbprint = t.vals.thumbprint(v)
	case 5:
		if !placeholder {
			c.AlternateNames = t.vals.altNames(v)
		}
		if placeholder || c.AlternateNames == nil {
			c.AlternateNames = []string{}
		}
	}
	return true
}

const (
	txtTLSFailed    = "TLS negotiation failed with error"
	txtTLSProtocol  = "TLS protocol "
	txtSucceeded    = "negotiation succeeded"
	txtChainStatus  = "Client certificate chain validation status:"
	txtDomainCaps   = "TlsDomainCapabilities="
	txtStatusPrefix = "Status="
)

// outcome recognises TLS outcome texts, which Exchange writes in either the
// data or the context column depending on version.
func (t *tracker) outcome(s *Session, b []byte, tm time.Time) {
	b = trimSpaceBytes(b)
	if len(b) < 10 {
		return
	}
	switch b[0] {
	case 'T', 't':
		if hasPrefixFold(b, txtTLSFailed) {
			rest := trimSpaceBytes(b[len(txtTLSFailed):])
			if i := bytes.IndexAny(rest, " ,;."); i >= 0 {
				rest = rest[:i]
			}
			s.TLS.Failed = true
			s.TLS.Status = t.vals.strAt(slotTLSStatus, rest)
			s.TLS.Detail = t.vals.strAt(slotTLSDetail, b)
			s.TLS.Time = tm
			return
		}
		if hasPrefixFold(b, txtTLSProtocol) && containsFold(b, txtSucceeded) {
			rest := b[len(txtTLSProtocol):]
			if i := bytes.IndexByte(rest, ' '); i >= 0 {
				rest = rest[:i]
			}
			s.TLS.Succeeded = true
			s.TLS.Protocol = t.vals.strAt(slotTLSProto, rest)
			if !s.TLS.Failed {
				s.TLS.Detail = t.vals.strAt(slotTLSDetail, b)
				s.TLS.Time = tm
			}
			return
		}
	case 'C', 'c':
		if hasPrefixFold(b, txtChainStatus) {
			s.ClientCertChainStatus = quotedValue(b[len(txtChainStatus):])
			return
		}
	}
	if bytes.IndexByte(b, '=') >= 0 && containsFold(b, txtDomainCaps) {
		for _, part := range bytes.Split(b, []byte(";")) {
			part = trimSpaceBytes(part)
			switch {
			case hasPrefixFold(part, txtDomainCaps):
				s.TLSDomainCapabilities = quotedValue(part[len(txtDomainCaps):])
			case hasPrefixFold(part, txtStatusPrefix):
				s.RemoteCertStatus = quotedValue(part[len(txtStatusPrefix):])
			}
		}
	}
}

// quotedValue returns the text inside single quotes (or the trimmed text).
func quotedValue(b []byte) string {
	b = trimSpaceBytes(b)
	if len(b) >= 1 && b[0] == '\'' {
		b = b[1:]
		if i := bytes.IndexByte(b, '\''); i >= 0 {
			b = b[:i]
		}
	}
	return capString(b)
}

func (t *tracker) reply(st *sessState, data []byte) {
	s := &st.S
	code, last, ok := parseReplyCode(data)
	if !ok {
		return
	}
	if !t.check && !slices.Contains(s.ReplyCodes, code) { // (ReplyCodes are not CheckView's)
		if len(s.ReplyCodes) < maxCodesPerSession {
			if s.ReplyCodes == nil {
				s.ReplyCodes = make([]int, 0, 8)
			}
			s.ReplyCodes = append(s.ReplyCodes, code)
		} else {
			s.Truncated = true
		}
	}
	var text []byte
	if len(data) > 4 {
		text = data[4:]
	}
	if code >= 400 {
		dup := false
		for _, r := range s.Replies {
			if r.Text == string(data) {
				dup = true
				break
			}
		}
		if !dup {
			if len(s.Replies) < maxRepliesPerSession {
				txt := t.vals.strAt(slotReply, data)
				s.Replies = append(s.Replies, Reply{Code: code, Enhanced: enhancedCode(txt[min(4, len(txt)):]), Text: txt})
			} else {
				s.Truncated = true
			}
		}
	}
	switch code {
	case 220:
		if s.RemoteName == "" && s.Direction != DirectionReceive {
			tok := firstToken(text)
			if len(tok) > 0 && (len(tok) > 9 || !isEnhanced(string(tok))) { // (no copy of a host name: isEnhanced takes at most 9 bytes)
				s.RemoteName = t.vals.strAt(slotRemoteName, tok)
			}
		}
	case 250:
		if !st.EHLOPending && st.CapsDone { // capabilities are read: nothing to do
			return
		}
		// Whether it greets matters only outside an EHLO reply or on its
		// first line.
		greeting := (!st.EHLOPending || st.EHLOLine == 0) && containsFold(data, " Hello")
		if !st.EHLOPending && !greeting {
			return
		}
		if greeting && st.EHLOLine == 0 {
			st.EHLOPending = true
			// Capabilities may follow "Hello [addr]" on the same row.
			if i := bytes.IndexByte(text, ']'); i >= 0 {
				t.addCaps(st, splitCapsLine(string(text[i+1:])))
			}
		} else {
			t.addCap(st, strings.TrimSpace(t.vals.strAt(slotCap+min(st.EHLOLine, 63), text)))
		}
		st.EHLOLine++
		if last {
			st.EHLOPending = false
			st.EHLOLine = 0
			st.CapsDone = true
		}
	}
}

func (t *tracker) addCaps(st *sessState, caps []string) {
	for _, c := range caps {
		t.addCap(st, c)
	}
}

func (t *tracker) addCap(st *sessState, c string) {
	s := &st.S
	if c == "" {
		return
	}
	if isStartTLS(capabilityKeyword(c)) {
		s.StartTLSOffered = true
	}
	if st.CapsDone {
		return
	}
	if len(s.Capabilities) >= maxCapsPerSession {
		s.Truncated = true
		return
	}
	if s.Capabilities == nil {
		s.Capabilities = make([]string, 0, 16)
	}
	s.Capabilities = append(s.Capabilities, c)
}

func (t *tracker) command(st *sessState, data []byte) {
	s := &st.S
	d := trimSpaceBytes(data)
	switch {
	case hasPrefixFold(d, "EHLO") || hasPrefixFold(d, "HELO"):
		if len(d) > 4 && d[4] != ' ' {
			return
		}
		s.EHLOSeen = true
		st.EHLOPending = true
		st.EHLOLine = 0
		if s.Direction == DirectionReceive && s.RemoteName == "" {
			if tok := firstToken(d[4:]); len(tok) > 0 {
				s.RemoteName = capString(tok)
			}
		}
	case equalFoldASCII(d, "STARTTLS") || equalFoldASCII(d, "X-ANONYMOUSTLS"):
		s.StartTLSIssued = true
	}
}

func firstToken(b []byte) []byte {
	b = trimSpaceBytes(b)
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		b = b[:i]
	}
	return b
}

// isStartTLS is strings.EqualFold(kw, "STARTTLS"), deciding most keywords
// by their first byte: one below 0x80 is a whole rune, which folds to
// 'S' only as 's' or 'S'.
func isStartTLS(kw string) bool {
	if kw == "STARTTLS" {
		return true
	}
	if len(kw) == 0 || (kw[0] < 0x80 && kw[0]|0x20 != 's') {
		return false
	}
	return strings.EqualFold(kw, "STARTTLS")
}
