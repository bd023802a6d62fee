package smtpprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Default limits.
const (
	DefaultMaxLineLength = 4096
	DefaultMaxLines      = 256
	DefaultIdleTimeout   = 5 * time.Second
)

// Limits bound what a server can make the prober read or wait for.
type Limits struct {
	// MaxLineLength bounds one reply line including CRLF (default 4096;
	// RFC 5321 allows 512). At most this many bytes of a line are buffered.
	MaxLineLength int
	// MaxLines bounds the lines of one reply (default 256).
	MaxLines int
	// IdleTimeout bounds each network read or write (default 5 s). It never
	// extends the probe's overall Timeout. Not used by ReadReply itself.
	IdleTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = DefaultMaxLineLength
	}
	if l.MaxLines <= 0 {
		l.MaxLines = DefaultMaxLines
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// Reply is one SMTP reply, possibly multi-line.
type Reply struct {
	Code int
	// Enhanced is the RFC 3463 enhanced status code of the first line
	// ("2.0.0"), empty when absent.
	Enhanced string
	// Lines holds the text of each line after "NNN-" / "NNN ".
	Lines []string
}

// Text joins the reply's lines with newlines.
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// String renders the reply as it appeared on the wire, lines joined by
// newlines without CR.
func (r Reply) String() string {
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%03d%s%s", r.Code, sep, l)
	}
	return b.String()
}

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// ReadReply reads one SMTP reply: lines "NNN-text" continue it, "NNN text"
// (or bare "NNN") ends it; every line must carry the same code. Lines may end
// in CRLF or LF. It returns, wrapped, ErrLineTooLong, ErrTooManyLines or
// ErrProtocol when the server breaks the limits or the grammar, io.EOF when
// the stream ends before the first byte, io.ErrUnexpectedEOF when it ends
// inside a reply, or the reader's own error. On error the lines read so far
// are returned in the partial Reply.
func ReadReply(r *bufio.Reader, limits Limits) (Reply, error) {
	limits = limits.withDefaults()
	var rep Reply
	for {
		line, err := readLine(r, limits.MaxLineLength)
		if err != nil {
			if errors.Is(err, io.EOF) && len(rep.Lines) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return rep, err
		}
		if len(rep.Lines) == limits.MaxLines {
			return rep, fmt.Errorf("%w: more than %d lines", ErrTooManyLines, limits.MaxLines)
		}
		code, more, text, err := parseLine(line)
		if err != nil {
			return rep, err
		}
		if len(rep.Lines) == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return rep, fmt.Errorf("%w: code changed from %d to %d inside a reply", ErrProtocol, rep.Code, code)
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			break
		}
	}
	rep.Enhanced = enhancedCode(rep.Code, rep.Lines[0])
	return rep, nil
}

// readLine reads one line of at most max bytes (terminator included)
// without ever buffering more than that, and strips the terminator.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, fmt.Errorf("%w: longer than %d bytes", ErrLineTooLong, max)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, fmt.Errorf("%w: line without terminator", io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
}

// parseLine splits "NNN-text" / "NNN text" / "NNN".
func parseLine(line []byte) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: short reply line %q", ErrProtocol, clip(line))
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, "", fmt.Errorf("%w: reply line without a code: %q", ErrProtocol, clip(line))
		}
	}
	if line[0] < '2' || line[0] > '5' || line[1] > '5' {
		return 0, false, "", fmt.Errorf("%w: invalid reply code %q", ErrProtocol, line[:3])
	}
	code, _ = strconv.Atoi(string(line[:3]))
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: bad separator after code: %q", ErrProtocol, clip(line))
	}
	return code, more, string(line[4:]), nil
}

// enhancedCode extracts an RFC 3463 class.subject.detail code that starts
// the text and agrees with the reply's class.
func enhancedCode(code int, text string) string {
	tok, _, _ := strings.Cut(text, " ")
	parts := strings.Split(tok, ".")
	if class := code / 100; class == 3 || len(parts) != 3 || parts[0] != strconv.Itoa(class) {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return ""
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return ""
			}
		}
	}
	return tok
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
