package diagnose

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Kinds of LogGroup.
const (
	LogKindTLSFailed        = "tls-failed"           // TLS negotiation failed / TLS reply stopped the session
	LogKindCertNotFound     = "cert-not-found"       // 454 4.7.5
	LogKindStartTLSRequired = "starttls-required"    // 451 5.7.3
	LogKindNoStartTLS       = "starttls-not-offered" // EHLO reply without STARTTLS
	LogKindDANENDR          = "dane-ndr"             // send side: the remote replied with an Exchange Online DANE result (4/5.7.321-325)
)

// Defaults for LogWindow bounds.
const (
	DefaultLogWindowGroups = 10_000
	maxGroupSamples        = 5
)

// ErrBadLogWindow: a persisted window cannot be read.
var ErrBadLogWindow = errors.New("diagnose: bad protocol log window state")

// LogGroup is one kind of protocol-log trouble on one path (direction,
// connector, remote host), with how often and when it was seen.
type LogGroup struct {
	Kind        string    `json:"kind"`
	Direction   string    `json:"direction"`
	Connector   string    `json:"connector"`
	RemoteHost  string    `json:"remoteHost"`
	Status      string    `json:"status,omitempty"`     // SSPI status or "454 4.7.5"
	Thumbprint  string    `json:"thumbprint,omitempty"` // certificate this server sent
	CertSubject string    `json:"certSubject,omitempty"`
	RemoteNames []string  `json:"remoteNames,omitempty"`
	Detail      string    `json:"detail,omitempty"` // reply text or EHLO capabilities
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"firstSeen,omitzero"`
	LastSeen    time.Time `json:"lastSeen,omitzero"`
	Sessions    []string  `json:"sessions,omitempty"`
}

// SentUsage counts the sessions in which this server presented one
// certificate on one connector.
type SentUsage struct {
	Direction  string `json:"direction"`
	Connector  string `json:"connector"`
	Thumbprint string `json:"thumbprint"`
	Subject    string `json:"subject,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	Count      int    `json:"count"`
	// ExchangeOnline counts the sessions whose peer named itself as an
	// Exchange Online host (banner on the send side, EHLO on the receive side).
	ExchangeOnline int       `json:"exchangeOnline,omitempty"`
	RemoteNames    []string  `json:"remoteNames,omitempty"` // up to maxGroupSamples
	Failed         int       `json:"failed"`
	Succeeded      int       `json:"succeeded"`
	FirstSeen      time.Time `json:"firstSeen,omitzero"`
	LastSeen       time.Time `json:"lastSeen,omitzero"`
	Session        string    `json:"session,omitempty"` // one example
}

// LogWindow keeps a bounded, recent view of protocol-log sessions that
// matter for diagnosis, so findings persist across agent rounds until
// sessions on the same path succeed again. It is fed sessions in log order
// (Add) and turned into findings by ProtocolLog. Not safe for concurrent use.
//
// A successful TLS session clears the failures of the same direction,
// connector and remote (host, or the remote's domain without its first label
// so that Exchange Online's rotating front ends count as one remote); on the
// send side it also clears NoCredentials/UnknownCredentials failures of the
// connector, which depend on the local certificate only.
type LogWindow struct {
	// MaxGroups bounds the groups and certificate usages kept (each);
	// the least recently seen are dropped first. 0: DefaultLogWindowGroups.
	MaxGroups int
	// MaxAge drops groups not seen for this long (relative to the newest
	// log time seen); 0 keeps them until a success clears them.
	MaxAge time.Duration

	groups map[string]*groupEnt
	sent   map[string]*SentUsage
	newest time.Time
	seen   int64

	// The clear index finds the groups a success on one path may clear
	// without looking at every group (a busy log has many failing remotes
	// and far more successful sessions): the groups by (direction,
	// connector) and the group's remote scope, its remote host, or, for
	// send-side local credential failures, nothing more (a clearKey). A
	// set is a doubly linked list through its groups (groupEnt.prev/next,
	// one link pair per kind of key) whose first group is held by the
	// path's pathSets: filing and unfiling a group is O(1), and a set costs
	// no allocation of its own nor an encoded key (the key's strings are
	// the group's; the maps are keyed by the scope or host alone).
	// groupEnt.scope is the scope a group is filed under; it changes when
	// the group learns its first remote name. A group's key joins its
	// fields, so a group whose fields hold no NUL is found through the
	// host set of its path (findGroup) without its key built or hashed.
	paths       map[pathKey]*pathSets
	recentPaths [4]*pathSets // the paths looked up last (a log has few connectors)
	nextPath    int
	sweepPaths  int // len(paths) at which empty paths are dropped

	// scopeName/scopeVal remember the last remote name's scope: successive
	// sessions mostly name the same few peers.
	scopeName, scopeVal string

	// oldest is a lower bound of every LastSeen held (valid when
	// oldestKnown), so that MaxAge pruning scans only when something may
	// have aged out, not on every session. ageScanAlways: tests.
	oldest        time.Time
	oldestKnown   bool
	ageScanAlways bool

	kbuf []byte // the key being looked up (no allocation when it is held)

	// sentLast holds the usages counted last (a log interleaves a few
	// connectors and certificates), each held in sent under the key of its
	// own fields: one whose fields equal a session's is the usage its key
	// finds, with no key built or hashed. Emptied whenever a usage leaves
	// sent (dropSent).
	sentLast [4]*SentUsage
	sentNext int

	// exoLast/exoLastIs remember exoName of the last remote name counted.
	exoLast   string
	exoLastIs bool
	uncached  bool // tests: sentLast, recentPaths and exoLast not used
}

type clearKey struct {
	by        byte // clearScope, clearHost, clearCred
	dir, conn string
	v         string
}

type pathKey struct{ dir, conn string }

// pathSets holds the first group of each clear set of one path.
type pathSets struct {
	pathKey
	scopes, hosts map[string]*groupEnt // by clearKey.v; nil until needed
	cred          *groupEnt
}

func (p *pathSets) empty() bool { return len(p.scopes) == 0 && len(p.hosts) == 0 && p.cred == nil }

// Kinds of clearKey; each is also the index of the group's links in
// the sets of that kind.
const (
	clearScope = 0 // remote scope
	clearHost  = 1 // remote host
	clearCred  = 2 // send-side local credentials (v empty)
)

// groupEnt is a group held by the window with its clear-index links.
type groupEnt struct {
	LogGroup
	key        string
	scope      string
	n          int       // sets it is filed in (clearKeys)
	path       *pathSets // the sets' path while filed
	prev, next [3]*groupEnt

	// The first backing arrays of RemoteNames and Sessions (at most
	// maxGroupSamples each): one allocation per group, not three.
	names, sessions [maxGroupSamples]string
}

// NewLogWindow returns an empty window.
func NewLogWindow(maxGroups int, maxAge time.Duration) *LogWindow {
	return &LogWindow{MaxGroups: maxGroups, MaxAge: maxAge, groups: map[string]*groupEnt{}, sent: map[string]*SentUsage{}}
}

func (w *LogWindow) init() {
	if w.groups == nil {
		w.groups = map[string]*groupEnt{}
	}
	if w.sent == nil {
		w.sent = map[string]*SentUsage{}
	}
	if w.paths == nil {
		w.paths = map[pathKey]*pathSets{}
		w.recentPaths = [len(w.recentPaths)]*pathSets{}
		for _, e := range w.groups {
			w.file(e)
		}
	}
}

func groupKey(g *LogGroup) string {
	return string(appendGroupKey(nil, g.Kind, g.Direction, g.Connector, g.RemoteHost, g.Status, g.Thumbprint))
}

func appendGroupKey(b []byte, kind, dir, conn, host, status, tp string) []byte {
	for i, v := range [...]string{kind, dir, conn, host, status, tp} {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, v...)
	}
	return b
}

func appendSentKey(b []byte, dir, conn, tp string) []byte {
	b = append(append(append(b, dir...), 0), conn...)
	return append(append(b, 0), tp...)
}

func clearKeys(g *LogGroup, scope string) ([3]clearKey, int) {
	ks := [3]clearKey{{clearScope, g.Direction, g.Connector, scope}, {clearHost, g.Direction, g.Connector, g.RemoteHost}}
	if g.Direction == protolog.DirectionSend.String() && g.Kind == LogKindTLSFailed && localCredentialStatus(g.Status) {
		ks[2] = clearKey{clearCred, g.Direction, g.Connector, ""}
		return ks, 3
	}
	return ks, 2
}

// file adds group e to the clear index under its current scope: second
// in a set that exists (no map write), else as the set's first group.
func (w *LogWindow) file(e *groupEnt) {
	e.scope = w.remoteScope(firstOr(e.RemoteNames), e.RemoteHost)
	ks, n := clearKeys(&e.LogGroup, e.scope)
	e.n = n
	p := w.path(e.Direction, e.Connector, true)
	e.path = p
	for i, ck := range ks[:n] {
		e.prev[i], e.next[i] = nil, nil
		head := p.head(ck)
		if head == nil {
			w.setHead(p, ck, e)
			continue
		}
		e.prev[i], e.next[i] = head, head.next[i]
		if head.next[i] != nil {
			head.next[i].prev[i] = e
		}
		head.next[i] = e
	}
}

// path returns the sets of path (dir, conn), created if create, else
// nil when there are none.
func (w *LogWindow) path(dir, conn string, create bool) *pathSets {
	if !w.uncached {
		for _, p := range w.recentPaths {
			if p != nil && p.conn == conn && p.dir == dir {
				return p
			}
		}
	}
	k := pathKey{dir, conn}
	p := w.paths[k]
	if p == nil {
		if !create {
			return nil
		}
		if len(w.paths) >= w.sweepPaths {
			w.dropEmptyPaths()
		}
		p = &pathSets{pathKey: k}
		w.paths[k] = p
	}
	w.recentPaths[w.nextPath] = p
	w.nextPath = (w.nextPath + 1) % len(w.recentPaths)
	return p
}

// head returns the first group of set ck (of path p, nil: none), or nil.
func (p *pathSets) head(ck clearKey) *groupEnt {
	switch {
	case p == nil:
		return nil
	case ck.by == clearScope:
		return p.scopes[ck.v]
	case ck.by == clearHost:
		return p.hosts[ck.v]
	default:
		return p.cred
	}
}

// setHead makes e the first group of set ck of path p (nil: the set is
// empty).
func (w *LogWindow) setHead(p *pathSets, ck clearKey, e *groupEnt) {
	switch ck.by {
	case clearScope:
		p.scopes = setFirst(p.scopes, ck.v, e)
	case clearHost:
		p.hosts = setFirst(p.hosts, ck.v, e)
	default:
		p.cred = e
	}
}

// dropEmptyPaths deletes the paths left without sets. A path emptied by a
// success is kept until then (its next failure would make it again, maps
// and all); sweeping when the paths have doubled since the last sweep keeps
// them bounded by twice the paths in use, at O(1) amortised per path made.
func (w *LogWindow) dropEmptyPaths() {
	for k, p := range w.paths {
		if p.empty() {
			delete(w.paths, k)
		}
	}
	w.recentPaths = [len(w.recentPaths)]*pathSets{}
	w.sweepPaths = max(64, 2*len(w.paths))
}

func setFirst(m map[string]*groupEnt, k string, e *groupEnt) map[string]*groupEnt {
	if e == nil {
		delete(m, k)
		return m
	}
	if m == nil {
		m = map[string]*groupEnt{}
	}
	m[k] = e
	return m
}

// unfile removes group e from the clear index.
func (w *LogWindow) unfile(e *groupEnt) {
	if e.n == 0 {
		return
	}
	ks, _ := clearKeys(&e.LogGroup, e.scope)
	for i := range e.n {
		prev, next := e.prev[i], e.next[i]
		if next != nil {
			next.prev[i] = prev
		}
		if prev != nil {
			prev.next[i] = next
		} else {
			w.setHead(e.path, ks[i], next)
		}
		e.prev[i], e.next[i] = nil, nil
	}
	e.n, e.path = 0, nil
}

// dropGroup deletes group k and its index entries.
func (w *LogWindow) dropGroup(k string) {
	if e := w.groups[k]; e != nil {
		w.unfile(e)
		delete(w.groups, k)
	}
}

// Sessions is how many sessions were added in total.
func (w *LogWindow) Sessions() int64 { return w.seen }

// Len is the number of groups held.
func (w *LogWindow) Len() int { return len(w.groups) }

// remoteScope is remoteScope with the last name's scope remembered.
func (w *LogWindow) remoteScope(remoteName, remoteHost string) string {
	if remoteName == "" {
		return remoteHost
	}
	if remoteName != w.scopeName {
		w.scopeName, w.scopeVal = remoteName, remoteScope(remoteName, "")
	}
	if w.scopeVal == "" {
		return remoteHost
	}
	return w.scopeVal
}

// remoteScope is what a success clears: the remote's domain without the
// first label when the banner/EHLO name is known, else the remote host.
func remoteScope(remoteName, remoteHost string) string {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(remoteName), "."))
	if i := strings.IndexByte(n, '.'); i > 0 && strings.Count(n, ".") >= 2 {
		return n[i+1:]
	}
	if n != "" {
		return n
	}
	return remoteHost
}

func localCredentialStatus(status string) bool {
	return strings.EqualFold(status, "NoCredentials") || strings.EqualFold(status, "UnknownCredentials")
}

// Add records one session.
func (w *LogWindow) Add(s protolog.Session) {
	w.init()
	w.seen++
	at := s.End
	if at.IsZero() {
		at = s.Start
	}
	if at.After(w.newest) {
		w.newest = at
	}
	dir := s.Direction.String()
	remote := s.RemoteHost()
	if c := s.SentCertificate(); c != nil && c.Thumbprint != "" {
		tp := c.Thumbprint
		u := w.recentSent(dir, s.Connector, tp)
		if u == nil {
			w.kbuf = appendSentKey(w.kbuf[:0], dir, s.Connector, tp)
			u = w.sent[string(w.kbuf)]
			if u == nil {
				u = &SentUsage{Direction: dir, Connector: s.Connector, Thumbprint: tp, Subject: c.Subject, Issuer: c.Issuer, FirstSeen: s.Start, Session: s.ID}
				w.sent[string(w.kbuf)] = u
			}
			w.sentLast[w.sentNext] = u
			w.sentNext = (w.sentNext + 1) % len(w.sentLast)
		}
		u.Count++
		if s.RemoteName != w.exoLast || s.RemoteName == "" || w.uncached {
			w.exoLast, w.exoLastIs = s.RemoteName, exoName(s.RemoteName)
		}
		if w.exoLastIs {
			u.ExchangeOnline++
		}
		if s.RemoteName != "" && len(u.RemoteNames) < maxGroupSamples && !slices.Contains(u.RemoteNames, s.RemoteName) {
			u.RemoteNames = append(u.RemoteNames, s.RemoteName)
		}
		if s.TLS.Failed {
			u.Failed++
		} else if s.TLS.Succeeded {
			u.Succeeded++
		}
		u.LastSeen = later(u.LastSeen, at)
		w.noteSeen(u.LastSeen)
	}
	add := func(kind, status, detail string) { w.addGroup(&s, dir, remote, kind, status, detail, at) }
	// A DANE result in a reply is recorded whatever the TLS outcome: the
	// session to Exchange Online succeeds, the message does not.
	daneCodes := w.addDANE(&s, dir, remote, at)
	if s.TLS.Succeeded {
		// Clear the groups of this direction and connector whose remote
		// scope or host is this session's, and on the send side the
		// connector's local credential failures, unless seen after it.
		scope := w.remoteScope(s.RemoteName, remote)
		var drop []*groupEnt
		// DANE results clear only when a session on the path got no
		// 4xx/5xx reply at all (its mail went through).
		keepDANE := daneCodes || len(s.Replies) > 0
		p := w.path(dir, s.Connector, false)
		for _, ck := range [...]clearKey{{clearScope, dir, s.Connector, scope}, {clearHost, dir, s.Connector, remote}, {clearCred, dir, s.Connector, ""}} {
			for e := p.head(ck); e != nil; e = e.next[ck.by] {
				if keepDANE && e.Kind == LogKindDANENDR {
					continue
				}
				if !e.LastSeen.After(at) {
					drop = append(drop, e)
				}
			}
		}
		for _, e := range drop {
			if e.n > 0 { // not dropped already (a group is filed under two or three of the keys)
				w.dropGroup(e.key)
			}
		}
		w.prune()
		return
	}
	if status, failed := s.FailureStatus(); failed {
		switch status {
		case "454 4.7.5":
			add(LogKindCertNotFound, status, replyText(s, 454, "4.7.5"))
		case "451 5.7.3":
			add(LogKindStartTLSRequired, status, replyText(s, 451, "5.7.3"))
		default:
			add(LogKindTLSFailed, status, s.TLS.Detail)
			if s.HasReply(451, "5.7.3") {
				add(LogKindStartTLSRequired, "451 5.7.3", replyText(s, 451, "5.7.3"))
			}
		}
	}
	if s.EHLOSeen && !s.StartTLSOffered && !s.StartTLSIssued && !s.TLS.Failed {
		add(LogKindNoStartTLS, "", text.Clip(strings.Join(s.Capabilities, ","), 300))
	}
	w.prune()
}

// recentSent returns the usage of sentLast with these fields, or nil.
func (w *LogWindow) recentSent(dir, conn, tp string) *SentUsage {
	if w.uncached {
		return nil
	}
	for _, u := range w.sentLast {
		if u != nil && u.Thumbprint == tp && u.Connector == conn && u.Direction == dir {
			return u
		}
	}
	return nil
}

// dropSent deletes usage k.
func (w *LogWindow) dropSent(k string) {
	delete(w.sent, k)
	w.sentLast = [len(w.sentLast)]*SentUsage{}
}

// findGroup returns the group with these fields. A group's key joins its
// fields with NULs, so when none holds a NUL the group with that key is the
// one with equal fields, which is filed in the host set of its path: found
// there (or known to be absent) without the key built or hashed. known is
// false when a field holds a NUL: only the key tells then.
func (w *LogWindow) findGroup(kind, dir, conn, host, status, tp string) (e *groupEnt, known bool) {
	if w.uncached || hasNUL(kind) || hasNUL(dir) || hasNUL(conn) || hasNUL(host) || hasNUL(status) || hasNUL(tp) {
		return nil, false
	}
	for e := w.path(dir, conn, false).head(clearKey{clearHost, dir, conn, host}); e != nil; e = e.next[clearHost] {
		if e.Kind == kind && e.Status == status && e.Thumbprint == tp {
			return e, true
		}
	}
	return nil, true
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// addGroup counts session s in the group of this kind and status on its
// path (creating it).
func (w *LogWindow) addGroup(s *protolog.Session, dir, remote, kind, status, detail string, at time.Time) {
	var tp, subject string
	if c := s.SentCertificate(); c != nil {
		tp, subject = c.Thumbprint, c.Subject
	}
	have, known := w.findGroup(kind, dir, s.Connector, remote, status, tp)
	if !known {
		w.kbuf = appendGroupKey(w.kbuf[:0], kind, dir, s.Connector, remote, status, tp)
		have = w.groups[string(w.kbuf)]
	}
	if have == nil {
		k := string(appendGroupKey(w.kbuf[:0], kind, dir, s.Connector, remote, status, tp))
		have = &groupEnt{LogGroup: LogGroup{Kind: kind, Direction: dir, Connector: s.Connector, RemoteHost: remote, Status: status, Detail: detail,
			Thumbprint: tp, CertSubject: subject, FirstSeen: s.Start}, key: k}
		if s.RemoteName != "" { // filed under the scope of its first remote name at once
			have.RemoteNames = append(have.names[:0], s.RemoteName)
		}
		w.groups[k] = have
		w.file(have)
	} else if s.RemoteName != "" && len(have.RemoteNames) < maxGroupSamples && !slices.Contains(have.RemoteNames, s.RemoteName) {
		if len(have.RemoteNames) == 0 { // the group's scope is now its first remote name's
			w.unfile(have)
			have.RemoteNames = append(have.names[:0], s.RemoteName)
			w.file(have)
		} else {
			have.RemoteNames = append(have.RemoteNames, s.RemoteName)
		}
	}
	have.Count++
	if !s.Start.IsZero() && (have.FirstSeen.IsZero() || s.Start.Before(have.FirstSeen)) {
		have.FirstSeen = s.Start
	}
	have.LastSeen = later(have.LastSeen, at)
	w.noteSeen(have.LastSeen)
	if len(have.Sessions) < maxGroupSamples {
		if have.Sessions == nil {
			have.Sessions = have.sessions[:0]
		}
		have.Sessions = append(have.Sessions, s.ID)
	}
}

// addDANE records the send-side replies that carry an Exchange Online DANE
// result (dane.FindNDRs), one group per code; it reports whether there were any.
func (w *LogWindow) addDANE(s *protolog.Session, dir, remote string, at time.Time) bool {
	if s.Direction != protolog.DirectionSend {
		return false
	}
	found := false
	for _, r := range s.Replies {
		for _, n := range dane.FindNDRs(r.Text) {
			w.addGroup(s, dir, remote, LogKindDANENDR, n.Code, text.Clip(r.Text, 300), at)
			found = true
		}
	}
	return found
}

func replyText(s protolog.Session, code int, enhanced string) string {
	for _, r := range s.Replies {
		if r.Code == code && (enhanced == "" || r.Enhanced == enhanced) {
			return text.Clip(r.Text, 300)
		}
	}
	return ""
}

func firstOr(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// prune enforces MaxAge and MaxGroups.
// noteSeen lowers the bound of LastSeen values for a new group or usage.
func (w *LogWindow) noteSeen(t time.Time) {
	if w.oldestKnown && t.Before(w.oldest) {
		w.oldest = t
	}
}

func (w *LogWindow) prune() {
	if w.MaxAge > 0 && !w.newest.IsZero() {
		cut := w.newest.Add(-w.MaxAge)
		if w.ageScanAlways || !w.oldestKnown || w.oldest.Before(cut) {
			oldest := time.Unix(1<<62, 0)
			for k, g := range w.groups {
				if g.LastSeen.Before(cut) {
					w.dropGroup(k)
				} else if g.LastSeen.Before(oldest) {
					oldest = g.LastSeen
				}
			}
			for k, u := range w.sent {
				if u.LastSeen.Before(cut) {
					w.dropSent(k)
				} else if u.LastSeen.Before(oldest) {
					oldest = u.LastSeen
				}
			}
			w.oldest, w.oldestKnown = oldest, true
		}
	}
	limit := w.MaxGroups
	if limit <= 0 {
		limit = DefaultLogWindowGroups
	}
	evictOldest(w.groups, limit, func(e *groupEnt) time.Time { return e.LastSeen }, w.dropGroup)
	evictOldest(w.sent, limit, func(u *SentUsage) time.Time { return u.LastSeen }, w.dropSent)
}

// evictOldest drops the least recently seen quarter over the limit at once,
// so a flood of distinct keys costs O(n log n) per quarter, not per key.
func evictOldest[T any](m map[string]T, limit int, seen func(T) time.Time, del func(string)) {
	if len(m) <= limit {
		return
	}
	type kv struct {
		sec  int64 // time.Time.Compare order, as integers
		nsec int32
		k    string
	}
	all := make([]kv, 0, len(m))
	for k, v := range m {
		t := seen(v)
		all = append(all, kv{t.Unix(), int32(t.Nanosecond()), k})
	}
	drop := min(len(m)-limit+limit/4, len(all))
	selectSmallest(all, drop, func(a, b kv) int {
		// (not cmp.Or, which would compare the keys every time)
		if a.sec != b.sec {
			return cmp.Compare(a.sec, b.sec)
		}
		if a.nsec != b.nsec {
			return cmp.Compare(a.nsec, b.nsec)
		}
		return strings.Compare(a.k, b.k)
	})
	for _, e := range all[:drop] {
		del(e.k)
	}
}

// selectSmallest reorders a so that a[:n] holds its n smallest elements
// under cmpf, a total order (in no particular order among themselves):
// quickselect, O(len(a)) on average where sorting is O(n log n); after
// 64 rounds without an answer it sorts what is left.
func selectSmallest[T any](a []T, n int, cmpf func(x, y T) int) {
	lo, hi := 0, len(a)
	for round := 0; hi-lo > 12; round++ {
		if round == 64 {
			break
		}
		mid := lo + (hi-lo)/2
		if cmpf(a[mid], a[lo]) < 0 {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if cmpf(a[hi-1], a[lo]) < 0 {
			a[hi-1], a[lo] = a[lo], a[hi-1]
		}
		if cmpf(a[mid], a[hi-1]) < 0 {
			a[mid], a[hi-1] = a[hi-1], a[mid]
		}
		p := a[hi-1] // the median of three
		s := lo
		for i := lo; i < hi-1; i++ {
			if cmpf(a[i], p) < 0 {
				a[i], a[s] = a[s], a[i]
				s++
			}
		}
		a[s], a[hi-1] = a[hi-1], a[s]
		// a[lo:s] < a[s] < a[s+1:hi]
		switch {
		case n == s || n == s+1:
			return
		case n < s:
			hi = s
		default:
			lo = s + 1
		}
	}
	slices.SortFunc(a[lo:hi], cmpf)
}

// Groups returns the groups held, sorted by kind, direction, connector,
// status, thumbprint, remote host.
func (w *LogWindow) Groups() []LogGroup {
	out := make([]LogGroup, 0, len(w.groups))
	for _, e := range w.groups {
		out = append(out, e.LogGroup)
	}
	slices.SortFunc(out, func(a, b LogGroup) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Connector, b.Connector),
			cmp.Compare(a.Status, b.Status), cmp.Compare(a.Thumbprint, b.Thumbprint), cmp.Compare(a.RemoteHost, b.RemoteHost))
	})
	return out
}

// Sent returns the certificate usages held, sorted.
func (w *LogWindow) Sent() []SentUsage {
	out := make([]SentUsage, 0, len(w.sent))
	for _, u := range w.sent {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b SentUsage) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.Thumbprint, b.Thumbprint))
	})
	return out
}

type windowState struct {
	Version int         `json:"version"`
	Newest  time.Time   `json:"newest,omitzero"`
	Groups  []LogGroup  `json:"groups"`
	Sent    []SentUsage `json:"sent"`
}

const windowStateVersion = 1

// Save writes the window as JSON (for agent run's state_dir).
func (w *LogWindow) Save(out io.Writer) error {
	st := windowState{Version: windowStateVersion, Newest: w.newest, Groups: w.Groups(), Sent: w.Sent()}
	if err := json.NewEncoder(out).Encode(st); err != nil {
		return fmt.Errorf("diagnose: save log window: %w", err)
	}
	return nil
}

// Load replaces the window's content with a saved one; bounds still apply.
func (w *LogWindow) Load(in io.Reader) error {
	var st windowState
	if err := json.NewDecoder(io.LimitReader(in, 256<<20)).Decode(&st); err != nil {
		return fmt.Errorf("%w: %w", ErrBadLogWindow, err)
	}
	if st.Version != windowStateVersion {
		return fmt.Errorf("%w: version %d", ErrBadLogWindow, st.Version)
	}
	w.groups, w.sent, w.paths = map[string]*groupEnt{}, map[string]*SentUsage{}, nil
	w.sentLast = [len(w.sentLast)]*SentUsage{}
	w.oldestKnown = false
	w.newest = st.Newest
	for i := range st.Groups {
		g := st.Groups[i]
		k := groupKey(&g)
		w.groups[k] = &groupEnt{LogGroup: g, key: k}
	}
	w.init()
	for i := range st.Sent {
		u := st.Sent[i]
		w.sent[u.Direction+"\x00"+u.Connector+"\x00"+u.Thumbprint] = &u
	}
	w.prune()
	return nil
}
