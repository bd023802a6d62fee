package smtpprobe

import (
	"errors"
	"testing"
)

func TestParseTarget(t *testing.T) {
	ok := map[string]string{
		"mail.contoso.com":              "mail.contoso.com:25",
		"mail.contoso.com:587":          "mail.contoso.com:587",
		"smtp://mail.contoso.com":       "mail.contoso.com:25",
		"SMTP://mail.contoso.com:2525/": "mail.contoso.com:2525",
		"127.0.0.1":                     "127.0.0.1:25",
		"127.0.0.1:2525":                "127.0.0.1:2525",
		"::1":                           "[::1]:25",
		"[::1]":                         "[::1]:25",
		"[::1]:2525":                    "[::1]:2525",
		"smtp://[2001:db8::1]:25":       "[2001:db8::1]:25",
		"  mx1.example.net  ":           "mx1.example.net:25",
	}
	for in, want := range ok {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "smtps://mail.contoso.com", "http://x", "smtp://user@x", "smtp://x/path", "smtp://x?q=1",
		"x:0", "x:70000", "x:port", "x:", "a:b:c", "bad host", "host\r\nQUIT", ":25", "smtp://"}
	for _, in := range bad {
		if got, err := ParseTarget(in); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("ParseTarget(%q) = %q, %v; want ErrInvalidTarget", in, got, err)
		}
	}
}
