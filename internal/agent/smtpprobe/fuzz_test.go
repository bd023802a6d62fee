package smtpprobe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadReply feeds arbitrary server output to ReadReply and checks its
// invariants: it never panics, never returns more than the limits allow,
// and every reply it accepts survives a round trip through its wire form.
// The committed corpus (testdata/fuzz/FuzzReadReply) holds Exchange-like
// banners and EHLO replies, "250 STARTTLS" as the last line, broken lines
// and binary junk.
func FuzzReadReply(f *testing.F) {
	f.Add([]byte("220-mx.contoso.com Microsoft ESMTP MAIL Service ready\r\n220 mx.contoso.com\r\n"))
	f.Add([]byte("250-mx Hello [10.0.0.5]\r\n250-SIZE 37748736\r\n250 STARTTLS\r\n"))
	lim := Limits{MaxLineLength: 256, MaxLines: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 64)
		for range 64 {
			rep, err := ReadReply(r, lim)
			if len(rep.Lines) > lim.MaxLines {
				t.Fatalf("%d lines with MaxLines %d", len(rep.Lines), lim.MaxLines)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrProtocol) &&
					!errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrTooManyLines) {
					t.Fatalf("unclassified error %v", err)
				}
				return
			}
			checkReply(t, rep, lim)
			// Round trip through the wire form.
			wire := strings.ReplaceAll(rep.String(), "\n", "\r\n") + "\r\n"
			again, err := ReadReply(bufio.NewReader(strings.NewReader(wire)), Limits{MaxLineLength: lim.MaxLineLength + 1, MaxLines: lim.MaxLines})
			if err != nil || again.Code != rep.Code || again.Enhanced != rep.Enhanced || strings.Join(again.Lines, "\x00") != strings.Join(rep.Lines, "\x00") {
				t.Fatalf("round trip of %q: %+v, %v", wire, again, err)
			}
		}
	})
}

func checkReply(t *testing.T, rep Reply, lim Limits) {
	t.Helper()
	if rep.Code < 200 || rep.Code > 559 || rep.Code%100 > 59 {
		t.Fatalf("code %d", rep.Code)
	}
	if len(rep.Lines) == 0 {
		t.Fatal("reply without lines")
	}
	for _, l := range rep.Lines {
		if strings.Contains(l, "\n") {
			t.Fatalf("line %q contains LF", l)
		}
		if len(l)+4+1 > lim.MaxLineLength {
			t.Fatalf("line of %d bytes passed limit %d", len(l), lim.MaxLineLength)
		}
	}
	if e := rep.Enhanced; e != "" {
		if !strings.HasPrefix(rep.Lines[0], e) || e[0] != byte('0'+rep.Code/100) {
			t.Fatalf("enhanced %q for %d %q", e, rep.Code, rep.Lines[0])
		}
	}
}
