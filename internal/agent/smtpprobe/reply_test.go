package smtpprobe

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		code     int
		enhanced string
		lines    []string
		err      error
	}{
		{name: "exchange banner", in: "220-E19.contoso.lab Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:10 +0000\r\n220 E19.contoso.lab\r\n",
			code: 220, lines: []string{"E19.contoso.lab Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:10 +0000", "E19.contoso.lab"}},
		{name: "starttls last", in: "250-mx.example Hello [1.2.3.4]\r\n250-SIZE 37748736\r\n250 STARTTLS\r\n",
			code: 250, lines: []string{"mx.example Hello [1.2.3.4]", "SIZE 37748736", "STARTTLS"}},
		{name: "server ready", in: "220 2.0.0 SMTP server ready\r\n", code: 220, enhanced: "2.0.0", lines: []string{"2.0.0 SMTP server ready"}},
		{name: "refused", in: "454 4.7.0 TLS not available due to temporary reason\r\n", code: 454, enhanced: "4.7.0", lines: []string{"4.7.0 TLS not available due to temporary reason"}},
		{name: "enhanced class mismatch", in: "250 5.0.0 odd\r\n", code: 250, lines: []string{"5.0.0 odd"}},
		{name: "enhanced bad detail", in: "550 5.7.1234 x\r\n", code: 550, lines: []string{"5.7.1234 x"}},
		{name: "bare LF", in: "221 bye\n", code: 221, lines: []string{"bye"}},
		{name: "code only", in: "250\r\n", code: 250, lines: []string{""}},
		{name: "empty continuation", in: "250-\r\n250 ok\r\n", code: 250, lines: []string{"", "ok"}},
		{name: "code change", in: "250-a\r\n251 b\r\n", err: ErrProtocol},
		{name: "no code", in: "hello\r\n", err: ErrProtocol},
		{name: "short", in: "25\r\n", err: ErrProtocol},
		{name: "bad separator", in: "250_x\r\n", err: ErrProtocol},
		{name: "code out of range", in: "199 x\r\n", err: ErrProtocol},
		{name: "binary", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\n", err: ErrProtocol},
		{name: "eof", in: "", err: io.EOF},
		{name: "eof mid line", in: "220 no newline", err: io.ErrUnexpectedEOF},
		{name: "eof mid reply", in: "250-a\r\n", err: io.ErrUnexpectedEOF},
		{name: "too long", in: strings.Repeat("x", 5000) + "\r\n", err: ErrLineTooLong},
		{name: "too many", in: strings.Repeat("250-x\r\n", 300) + "250 x\r\n", err: ErrTooManyLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ReadReply(bufio.NewReader(strings.NewReader(tt.in)), Limits{})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Code != tt.code || rep.Enhanced != tt.enhanced || strings.Join(rep.Lines, "|") != strings.Join(tt.lines, "|") {
				t.Errorf("got %d %q %q", rep.Code, rep.Enhanced, rep.Lines)
			}
		})
	}
}

func TestReadReplyLimitsAndSequence(t *testing.T) {
	in := "250-a\r\n250 b\r\n220 next\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	rep, err := ReadReply(r, Limits{MaxLines: 2})
	if err != nil || rep.String() != "250-a\n250 b" || rep.Text() != "a\nb" || !rep.Positive() {
		t.Fatalf("first: %v %q", err, rep.String())
	}
	rep, err = ReadReply(r, Limits{MaxLines: 2})
	if err != nil || rep.Code != 220 {
		t.Fatalf("second: %v %+v", err, rep)
	}
	r = bufio.NewReader(strings.NewReader("250-a\r\n250-b\r\n250 c\r\n"))
	if rep, err := ReadReply(r, Limits{MaxLines: 2}); !errors.Is(err, ErrTooManyLines) || len(rep.Lines) != 2 {
		t.Errorf("3 lines with MaxLines 2: %v %q", err, rep.Lines)
	}
	// Exactly MaxLineLength bytes including CRLF is fine; one more is not.
	line := "250 " + strings.Repeat("x", 10) + "\r\n"
	if _, err := ReadReply(bufio.NewReader(strings.NewReader(line)), Limits{MaxLineLength: len(line)}); err != nil {
		t.Errorf("line at limit: %v", err)
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader(line)), Limits{MaxLineLength: len(line) - 1}); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("line over limit: %v", err)
	}
}

// countingReader yields an endless line without newline and counts what
// was consumed.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '2'
	}
	c.n += len(p)
	if c.n > 1<<20 {
		return 0, io.EOF
	}
	return len(p), nil
}

// A megabyte line is refused after reading about one buffer past the limit.
func TestReadReplyDoesNotBufferHugeLine(t *testing.T) {
	cr := &countingReader{}
	_, err := ReadReply(bufio.NewReaderSize(cr, readerSize), Limits{})
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v", err)
	}
	if cr.n > DefaultMaxLineLength+readerSize {
		t.Errorf("consumed %d bytes of a 1 MiB line", cr.n)
	}
}
