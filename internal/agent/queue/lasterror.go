package queue

import (
	"strings"
	"time"
)

// maxLastErrorBytes bounds the text ParseLastError looks at.
const maxLastErrorBytes = 64 << 10

// Field is one {KEY=value} group of a LastError.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Reply is an SMTP reply found in a LastError.
type Reply struct {
	Code     int    `json:"code"`               // 421
	Enhanced string `json:"enhanced,omitempty"` // "4.4.1"
	Text     string `json:"text"`               // from the code to the end of the reply
}

// Cause is one link of a LED cause chain "A -> B -> C".
type Cause struct {
	Text string `json:"text"`
	// Reply is the reply the link starts with ("451 4.4.395 Target host
	// responded with error."), if any.
	Reply *Reply `json:"reply,omitempty"`
	// Embedded are further replies quoted inside the link, e.g. the
	// "421 4.2.1 Unable to connect." in `451 4.4.0 Primary target IP
	// address responded with: "421 4.2.1 Unable to connect." ...`.
	Embedded []Reply `json:"embedded,omitempty"`
}

// LastError is a parsed Get-Queue LastError.
type LastError struct {
	Raw     string  `json:"raw"`
	Grouped bool    `json:"grouped"` // had [{KEY=...};...] groups
	Fields  []Field `json:"fields,omitempty"`
	// Convenience copies of the well-known groups.
	LED  string `json:"led,omitempty"`
	MSG  string `json:"msg,omitempty"`
	FQDN string `json:"fqdn,omitempty"`
	IP   string `json:"ip,omitempty"`
	LRT  string `json:"lrt,omitempty"`
	// LastRetry is LRT parsed with en-US layouts ("5/2/2019 6:32:14 AM").
	// LRT is in the server's local time zone, which the string does not
	// carry: the value is labelled UTC but is wall-clock local time.
	LastRetry time.Time `json:"lastRetry,omitzero"`
	// Causes is the LED (or, for ungrouped text, the whole text) split on
	// "->", outermost first.
	Causes []Cause `json:"causes,omitempty"`
}

// Get returns the value of the first group with key (case-insensitive).
func (e *LastError) Get(key string) (string, bool) {
	for _, f := range e.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value, true
		}
	}
	return "", false
}

// Replies returns every reply in the chain, outermost first, each link's
// leading reply before its embedded ones.
func (e *LastError) Replies() []Reply {
	var out []Reply
	for _, c := range e.Causes {
		if c.Reply != nil {
			out = append(out, *c.Reply)
		}
		out = append(out, c.Embedded...)
	}
	return out
}

// RootCause returns the innermost link, or nil.
func (e *LastError) RootCause() *Cause {
	if len(e.Causes) == 0 {
		return nil
	}
	return &e.Causes[len(e.Causes)-1]
}

// knownKeys are the groups Exchange writes. Unknown keys are accepted as
// group starts only if they are short and upper-case, which keeps values
// such as "x;{a=b}" from being split.
var knownKeys = map[string]bool{"LED": true, "MSG": true, "FQDN": true, "IP": true, "LRT": true}

// ParseLastError parses a LastError string. It never fails: text without
// groups is treated as a single LED-like message.
//
// Group syntax is `[{K=v};{K=v};...]`. Values may contain ';', '=',
// '->', brackets and braces, so a group boundary is recognised only as
// `}` + optional spaces + `;` + optional spaces + `{KEY=` where KEY is a
// known key (LED, MSG, FQDN, IP, LRT) or 1-16 upper-case letters, digits
// or '_'. A missing closing `}` or `]` (truncated text) is tolerated.
func ParseLastError(s string) *LastError {
	if len(s) > maxLastErrorBytes {
		s = s[:maxLastErrorBytes]
	}
	e := &LastError{Raw: s}
	t := strings.TrimSpace(s)
	body, ok := groupBody(t)
	if ok {
		e.Fields = splitGroups(body)
		e.Grouped = len(e.Fields) > 0
	}
	if !e.Grouped {
		e.Causes = splitCauses(t)
		return e
	}
	for _, f := range e.Fields {
		v := f.Value
		switch strings.ToUpper(f.Key) {
		case "LED":
			setOnce(&e.LED, v)
		case "MSG":
			setOnce(&e.MSG, v)
		case "FQDN":
			setOnce(&e.FQDN, v)
		case "IP":
			setOnce(&e.IP, v)
		case "LRT":
			setOnce(&e.LRT, v)
		}
	}
	if e.LRT != "" {
		for _, l := range []string{"1/2/2006 3:04:05 PM", "1/2/2006 15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "02.01.2006 15:04:05"} {
			if tm, err := time.Parse(l, e.LRT); err == nil {
				e.LastRetry = tm
				break
			}
		}
	}
	e.Causes = splitCauses(e.LED)
	return e
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// groupBody returns the text between "[" and "]" if t starts with "[{KEY=".
func groupBody(t string) (string, bool) {
	if !strings.HasPrefix(t, "[") {
		return "", false
	}
	body := strings.TrimLeft(t[1:], " ")
	if !strings.HasPrefix(body, "{") || keyAt(body[1:]) < 0 {
		return "", false
	}
	if strings.HasSuffix(body, "]") {
		body = body[:len(body)-1]
	}
	return body, true
}

// keyAt returns the length of "KEY=" at the start of s, or -1.
func keyAt(s string) int {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 || eq > 16 {
		return -1
	}
	k := s[:eq]
	if knownKeys[strings.ToUpper(k)] {
		return eq + 1
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return -1
		}
	}
	return eq + 1
}

// splitGroups splits "{K=v};{K=v}" (body starts with '{').
func splitGroups(body string) []Field {
	var out []Field
	// Find group starts: index of '{' at 0 or after `}` ws `;` ws.
	starts := []int{0}
	for i := 1; i < len(body); i++ {
		if body[i] != '{' || keyAt(body[i+1:]) < 0 {
			continue
		}
		j := i - 1
		for j >= 0 && body[j] == ' ' {
			j--
		}
		if j < 0 || body[j] != ';' {
			continue
		}
		j--
		for j >= 0 && body[j] == ' ' {
			j--
		}
		if j < 0 || body[j] != '}' {
			continue
		}
		starts = append(starts, i)
	}
	for n, st := range starts {
		end := len(body)
		if n+1 < len(starts) {
			end = starts[n+1]
		}
		g := strings.TrimRight(body[st+1:end], " ")
		g = strings.TrimSuffix(g, ";")
		g = strings.TrimRight(g, " ")
		g = strings.TrimSuffix(g, "}")
		kl := keyAt(g)
		if kl < 0 {
			continue
		}
		out = append(out, Field{Key: g[:kl-1], Value: g[kl:]})
		if len(out) >= 64 {
			break
		}
	}
	return out
}

// splitCauses splits on "->" into links and extracts replies.
func splitCauses(s string) []Cause {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "->")
	if len(parts) > 32 {
		parts = parts[:32]
	}
	out := make([]Cause, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c := Cause{Text: p}
		if r, ok := leadingReply(p); ok {
			c.Reply = &r
		}
		c.Embedded = embeddedReplies(p, c.Reply != nil)
		out = append(out, c)
	}
	return out
}

// leadingReply parses "421 4.4.1 Connection timed out" / "421 Unable to
// connect" / "421-4.4.1 ..." at the start of s.
func leadingReply(s string) (Reply, bool) {
	code, n := replyCodeAt(s, 0)
	if n == 0 {
		return Reply{}, false
	}
	r := Reply{Code: code, Text: s}
	rest := strings.TrimLeft(s[n:], " -")
	if enh, m := enhancedAt(rest); m > 0 {
		r.Enhanced = enh
	}
	return r, true
}

// replyCodeAt matches [2-5]dd at i followed by end, ' ' or '-'.
func replyCodeAt(s string, i int) (int, int) {
	if i+3 > len(s) {
		return 0, 0
	}
	a, b, c := s[i], s[i+1], s[i+2]
	if a < '2' || a > '5' || b < '0' || b > '9' || c < '0' || c > '9' {
		return 0, 0
	}
	if i+3 < len(s) && s[i+3] != ' ' && s[i+3] != '-' {
		return 0, 0
	}
	return int(a-'0')*100 + int(b-'0')*10 + int(c-'0'), 3
}

// enhancedAt matches an RFC 3463 code "c.sss.ddd" at the start of s,
// followed by end or a non-digit, non-dot character.
func enhancedAt(s string) (string, int) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return "", 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-st < 3 {
			i++
		}
		if i == st {
			return "", 0
		}
		if part == 0 {
			if i >= len(s) || s[i] != '.' {
				return "", 0
			}
			i++
		}
	}
	if i < len(s) && (s[i] >= '0' && s[i] <= '9') {
		return "", 0
	}
	if i < len(s) && s[i] == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
		return "", 0
	}
	return s[:i], i
}

// embeddedReplies finds "ddd d.d.d" replies inside s (after the leading
// one if skipLeading) that start at a word boundary. The reply text runs
// to a closing double quote if the reply was opened by one, else to the
// end of s.
func embeddedReplies(s string, skipLeading bool) []Reply {
	var out []Reply
	start := 1
	if !skipLeading {
		start = 0
	}
	for i := start; i+9 <= len(s) && len(out) < 16; i++ {
		if i > 0 {
			p := s[i-1]
			if p >= '0' && p <= '9' || p >= 'a' && p <= 'z' || p >= 'A' && p <= 'Z' || p == '.' {
				continue
			}
		}
		code, n := replyCodeAt(s, i)
		if n == 0 || i+n >= len(s) || s[i+n] != ' ' {
			continue
		}
		enh, m := enhancedAt(s[i+n+1:])
		if m == 0 {
			continue
		}
		end := len(s)
		if i > 0 && s[i-1] == '"' {
			if q := strings.IndexByte(s[i:], '"'); q >= 0 {
				end = i + q
			}
		}
		out = append(out, Reply{Code: code, Enhanced: enh, Text: strings.TrimSpace(s[i:end])})
		i += n + m
	}
	return out
}
