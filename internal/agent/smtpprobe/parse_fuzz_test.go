package smtpprobe

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseEHLO reads an arbitrary server answer as an EHLO reply and
// splits it into capabilities: keywords are upper case without spaces,
// every capability is found again by Has, and masked keywords come only
// from what was advertised.
func FuzzParseEHLO(f *testing.F) {
	f.Add([]byte("250-mx.contoso.com Hello [10.0.0.5]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-XXXXXXXA\r\n250-AUTH NTLM LOGIN\r\n250 STARTTLS\r\n"))
	f.Add([]byte("250-edge.fabrikam.com\r\n250-  \r\n250-starttls\r\n250 X-ANONYMOUSTLS\r\n"))
	f.Add([]byte("250 only.greeting\r\n"))
	f.Add([]byte("250-a\r\n250-\x00\xff\r\n250 \t\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ReadReply(bufio.NewReader(bytes.NewReader(data)), Limits{MaxLineLength: 512, MaxLines: 64})
		if err != nil {
			return
		}
		greeting, caps := parseEHLO(rep)
		if greeting != rep.Lines[0] || len(caps) > len(rep.Lines)-1 {
			t.Fatalf("greeting %q, %d capabilities from %d lines", greeting, len(caps), len(rep.Lines))
		}
		for _, c := range caps {
			if c.Keyword == "" || c.Keyword != strings.ToUpper(c.Keyword) || strings.ContainsAny(c.Keyword, " \t\r\n") {
				t.Fatalf("keyword %q", c.Keyword)
			}
			if !caps.Has(c.Keyword) {
				t.Fatalf("Has(%q) false for an advertised keyword", c.Keyword)
			}
		}
		for _, k := range maskedKeywords(caps) {
			if !caps.Has(k) {
				t.Fatalf("masked keyword %q was not advertised", k)
			}
		}
	})
}

// FuzzParseTarget normalises arbitrary probe targets (configuration, the
// controller's plan): what it accepts is host:port with a port in range
// and nothing that could smuggle a second line or URL part, and
// normalising it again changes nothing.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"mx.contoso.com", "smtp://mx.contoso.com:587", "[2001:db8::1]:25", "2001:db8::1", "SMTP://10.0.0.5",
		"smtps://mx:465", "smtp://user@mx:25", "smtp://mx:25/path?q", "mx:0", "mx:65536", "mx\r\nRCPT", "[::1]", " mx ", "smtp://[fe80::1%25eth0]:25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(s)
		if validEHLOName(s) && strings.ContainsAny(s, " \r\n\t") {
			t.Fatalf("EHLO name %q accepted with whitespace", s)
		}
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(got)
		if err != nil || host == "" {
			t.Fatalf("%q -> %q: not host:port (%v)", s, got, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q -> %q: port %q", s, got, port)
		}
		if strings.ContainsAny(got, " \r\n\t/?#@") {
			t.Fatalf("%q -> %q", s, got)
		}
		again, err := ParseTarget(got)
		if err != nil || again != got {
			t.Fatalf("%q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
