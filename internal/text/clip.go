package text

import (
	"strings"
	"unicode/utf8"
)

// Clip shortens s to at most n bytes plus "...", never inside a UTF-8
// sequence (a cut rune would make a protobuf message unmarshalable).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// OrDash is s, or "-" when s is empty (an evidence value or table cell that
// is known to be empty).
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PSLiteral quotes s as a PowerShell single-quoted string literal, in which
// a backslash is literal (a receive connector's Identity is SERVER\name)
// and only a quote is doubled. Go's %q would double the backslash.
func PSLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
