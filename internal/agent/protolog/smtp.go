package protolog

import (
	"bytes"
	"strings"
)

// Reply is one SMTP reply line seen in a session (4xx/5xx replies are kept
// with their text; all codes are summarised in Session.ReplyCodes).
type Reply struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"` // e.g. "4.7.5"
	Text     string `json:"text"`               // full line as logged
}

// parseReplyCode extracts a 3-digit reply code at the start of b, followed
// by end, ' ' or '-'. It returns the code, whether it is the last line of a
// multi-line reply (separator is not '-'), and ok.
func parseReplyCode(b []byte) (code int, last bool, ok bool) {
	if len(b) < 3 {
		return 0, false, false
	}
	c0, c1, c2 := b[0], b[1], b[2]
	if c0 < '1' || c0 > '5' || c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' {
		return 0, false, false
	}
	if len(b) > 3 && b[3] != ' ' && b[3] != '-' {
		return 0, false, false
	}
	code = int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')
	return code, len(b) == 3 || b[3] == ' ', true
}

// enhancedCode returns the RFC 3463 status code ("4.7.5") at the start of s
// (after optional spaces), or "".
func enhancedCode(s string) string {
	s = strings.TrimLeft(s, " ")
	end := strings.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	t := s[:end]
	if isEnhanced(t) {
		return t
	}
	return ""
}

func isEnhanced(t string) bool {
	if len(t) < 5 || len(t) > 9 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.' {
		return false
	}
	parts := strings.Split(t[2:], ".")
	if len(parts) != 2 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// knownCapsWithArgs lists EHLO keywords whose following tokens are
// arguments when several capabilities are logged on one row (the receive
// log writes the whole EHLO reply as a single row).
var knownCapsWithArgs = map[string]bool{
	"SIZE": true, "AUTH": true, "X-EXPS": true, "XRDST": false,
}

// knownCaps are keywords that always start a new capability.
var knownCaps = map[string]bool{
	"SIZE": true, "PIPELINING": true, "DSN": true, "ENHANCEDSTATUSCODES": true,
	"STARTTLS": true, "X-ANONYMOUSTLS": true, "AUTH": true, "X-EXPS": true,
	"8BITMIME": true, "BINARYMIME": true, "CHUNKING": true, "XEXCH50": true,
	"XRDST": true, "XSHADOWREQUEST": true, "XSHADOW": true, "XPROXY": true,
	"XPROXYFROM": true, "XPROXYTO": true, "XRSETPROXYTO": true, "SMTPUTF8": true,
	"X-MESSAGECONTEXT": true, "XSESSIONPARAMS": true, "XORGID": true,
	"XSYSPROBE": true, "XMSEXCHAUTHDOMAIN": true, "VRFY": true, "ETRN": true,
	"HELP": true, "XLONGADDR": true, "XOORG": true, "XFASTINDEX": true,
	"X-LINK2STATE": true, "XADRESULT": true, "XRCPTSTATUS": true,
}

// splitCapsLine splits a single-row EHLO reply tail ("SIZE 37748736
// PIPELINING DSN ... AUTH NTLM") into capabilities. A token starts a new
// capability unless the current one takes arguments and the token is not
// a known keyword.
func splitCapsLine(s string) []string {
	var out []string
	cur := ""
	takesArgs := false
	for _, t := range strings.Fields(s) {
		up := strings.ToUpper(t)
		if cur != "" && takesArgs && !knownCaps[up] {
			cur += " " + t
			continue
		}
		if cur != "" {
			out = append(out, cur)
		}
		cur = t
		takesArgs = knownCapsWithArgs[up] || !knownCaps[up]
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// capabilityKeyword returns the keyword part of a capability ("SIZE" for
// "SIZE 37748736").
func capabilityKeyword(c string) string {
	if i := strings.IndexByte(c, ' '); i >= 0 {
		return c[:i]
	}
	return c
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	if len(b) > 0 && b[0] == s[0] && string(b) == s { // Exchange writes its labels in one case
		return true
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFoldASCII(b[:len(prefix)], prefix)
}

// containsFold reports whether b contains sub, ASCII case-insensitively.
// Candidates are found with IndexByte on sub's first byte (both cases).
func containsFold(b []byte, sub string) bool {
	if len(sub) == 0 {
		return true
	}
	c0 := sub[0]
	lo, up := c0, c0
	if 'A' <= c0 && c0 <= 'Z' {
		lo = c0 + 'a' - 'A'
	} else if 'a' <= c0 && c0 <= 'z' {
		up = c0 - ('a' - 'A')
	}
	for i := 0; i+len(sub) <= len(b); {
		j := bytes.IndexByte(b[i:len(b)-len(sub)+1], lo)
		if up != lo {
			if k := bytes.IndexByte(b[i:len(b)-len(sub)+1], up); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return false
		}
		i += j
		if equalFoldASCII(b[i:i+len(sub)], sub) {
			return true
		}
		i++
	}
	return false
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
