package lab

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Session endings that are not failures.
var (
	errQuit   = errors.New("lab: client quit")
	errHangUp = errors.New("lab: scenario hangs up")
)

// maxCommands bounds the commands a single session will answer.
const maxCommands = 100

// session is one SMTP connection.
type session struct {
	srv      *Server
	raw      net.Conn // the TCP connection
	conn     net.Conn // raw, or the TLS connection after STARTTLS
	r        *bufio.Reader
	greeted  bool
	tlsDone  bool
	clientIP string
}

func newSession(s *Server, c net.Conn) *session {
	ip := "unknown"
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.IP.String()
	}
	return &session{srv: s, raw: c, conn: c, r: bufio.NewReaderSize(c, s.opts.MaxLineLength), clientIP: ip}
}

func (ss *session) hostname() string { return ss.srv.opts.Hostname }

func (ss *session) run() error {
	switch ss.srv.sc {
	case Silent:
		return ss.drain()
	case HugeLine:
		return ss.hugeLine()
	case DripFeed:
		if err := ss.dripBanner(); err != nil {
			return err
		}
	case NonSMTP:
		if err := ss.write([]byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")); err != nil {
			return err
		}
		return ss.drain()
	case InvalidBanner:
		if err := ss.write([]byte("999 " + ss.hostname() + " ready\r\n")); err != nil {
			return err
		}
		return ss.drain()
	case ESMTPInspection:
		if err := ss.reply(220, "*****************************************************************************2*0**0*******0***0**"); err != nil {
			return err
		}
	default:
		if err := ss.reply(220, ss.bannerLines()...); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		if n == maxCommands {
			return ss.reply(421, "4.7.0 Too many commands, closing transmission channel")
		}
		line, err := ss.readLine()
		if errors.Is(err, bufio.ErrBufferFull) {
			err := ss.reply(500, "5.5.6 Line too long")
			ss.linger()
			return err
		}
		if err != nil {
			return err
		}
		if err := ss.command(line); err != nil {
			if errors.Is(err, errQuit) || errors.Is(err, errHangUp) {
				return nil
			}
			return err
		}
	}
}

func (ss *session) bannerLines() []string {
	if len(ss.srv.opts.Banner) > 0 {
		return ss.srv.opts.Banner
	}
	h := ss.hostname()
	return []string{
		h + " Microsoft ESMTP MAIL Service ready at " + time.Now().UTC().Format(time.RFC1123Z),
		h + " mxprobe lab (" + string(ss.srv.sc) + ")",
	}
}

func (ss *session) command(line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	switch verb {
	case "EHLO":
		if ss.srv.sc == HELOOnly {
			return ss.reply(500, "5.3.3 Unrecognized command 'EHLO'")
		}
		if strings.TrimSpace(arg) == "" {
			return ss.reply(501, "5.5.4 Invalid domain name")
		}
		ss.greeted = true
		if ss.srv.sc == EndlessMultiline {
			return ss.endless()
		}
		return ss.reply(250, ss.ehloLines()...)
	case "HELO":
		if strings.TrimSpace(arg) == "" {
			return ss.reply(501, "5.5.4 Invalid domain name")
		}
		ss.greeted = true
		return ss.reply(250, ss.hostname()+" Hello ["+ss.clientIP+"]")
	case "STARTTLS":
		return ss.startTLS()
	case "NOOP":
		return ss.reply(250, "2.0.0 OK")
	case "RSET":
		return ss.reply(250, "2.0.0 Resetting")
	case "QUIT":
		ss.srv.stats.quits.Add(1)
		if err := ss.reply(221, "2.0.0 Service closing transmission channel"); err != nil {
			return err
		}
		return errQuit
	case "MAIL":
		ss.srv.stats.mail.Add(1)
		return ss.reply(530, "5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM")
	case "RCPT", "DATA", "BDAT":
		ss.srv.stats.mail.Add(1)
		return ss.reply(503, "5.5.2 Need mail command")
	case "AUTH":
		return ss.reply(504, "5.7.4 Unrecognized authentication type")
	default:
		return ss.reply(500, fmt.Sprintf("5.3.3 Unrecognized command '%s'", sanitize(verb)))
	}
}

func (ss *session) ehloLines() []string {
	first := ss.hostname() + " Hello [" + ss.clientIP + "]"
	if ss.srv.sc == NoStartTLS {
		// Catalog K, verbatim apart from the host name.
		return []string{first, "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "X-ANONYMOUSTLS", "AUTH NTLM"}
	}
	if ss.srv.sc == ESMTPInspection {
		// What a Cisco ASA's "inspect esmtp" leaves of an Exchange EHLO reply.
		return []string{first, "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "XXXXXXXA", "XXXXXXXXXXXXXX", "AUTH NTLM", "8BITMIME", "BINARYMIME", "XXXXXXXB"}
	}
	if ss.tlsDone {
		return []string{first, "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
			"AUTH NTLM LOGIN", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"}
	}
	lines := []string{first, "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"}
	if !ss.srv.opts.StartTLSLast {
		lines = append(lines, "STARTTLS")
	}
	lines = append(lines, "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8")
	if ss.srv.opts.StartTLSLast {
		lines = append(lines, "STARTTLS")
	}
	return lines
}

func (ss *session) startTLS() error {
	sc := ss.srv.sc
	switch {
	case ss.tlsDone:
		return ss.reply(503, "5.5.1 TLS already negotiated")
	case !sc.offersStartTLS():
		return ss.reply(500, "5.3.3 Unrecognized command 'STARTTLS'")
	case !ss.greeted:
		return ss.reply(503, "5.5.2 Send hello first")
	case sc == StartTLSRefused:
		return ss.reply(454, "4.7.0 TLS not available due to temporary reason")
	case ss.r.Buffered() > 0:
		// RFC 3207: nothing may follow STARTTLS before the 220.
		if err := ss.reply(501, "5.5.4 Pipelining STARTTLS is not allowed"); err != nil {
			return err
		}
		return errors.New("lab: data pipelined after STARTTLS")
	}
	if err := ss.reply(220, "2.0.0 SMTP server ready"); err != nil {
		return err
	}
	ss.srv.stats.startTLS.Add(1)
	switch sc {
	case GarbageTLS:
		return ss.garbageTLS()
	case CloseMidHandshake:
		return ss.closeMidHandshake()
	case ResetAfterStartTLS:
		return ss.resetAfterClientHello()
	case StallRepeatHandshakes:
		if ss.srv.stats.startTLS.Load() > 1 {
			return ss.drain()
		}
	}
	tc := tls.Server(ss.raw, ss.srv.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	if err := tc.Handshake(); err != nil {
		ss.srv.stats.handshakeErrors.Add(1)
		ss.linger()
		return fmt.Errorf("lab: handshake: %w", err)
	}
	ss.srv.stats.handshakes.Add(1)
	ss.conn, ss.tlsDone, ss.greeted = tc, true, false
	ss.r = bufio.NewReaderSize(tc, ss.srv.opts.MaxLineLength)
	if sc == RejectClientCertReply && ss.certNotTrusted(tc.ConnectionState()) {
		return ss.refuseUntrustedClient()
	}
	return nil
}

// readLine reads one CRLF (or LF) terminated command line within the idle
// timeout; bufio.ErrBufferFull means the line exceeded MaxLineLength.
func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	b, err := ss.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// reply writes a (possibly multi-line) reply.
func (ss *session) reply(code int, lines ...string) error {
	var buf bytes.Buffer
	for i, l := range lines {
		sep := byte('-')
		if i == len(lines)-1 {
			sep = ' '
		}
		fmt.Fprintf(&buf, "%03d%c%s\r\n", code, sep, l)
	}
	return ss.write(buf.Bytes())
}

func (ss *session) write(b []byte) error {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	_, err := ss.conn.Write(b)
	return err
}

// drain reads and discards until the peer goes away, the idle timeout
// passes or the server closes the connection.
func (ss *session) drain() error {
	_ = ss.conn.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	_, err := io.Copy(io.Discard, ss.r)
	return err
}

// linger half-closes the connection and drains it for up to a second, so
// the client reads our last words (a reply, a TLS alert) instead of a reset
// caused by bytes it sent that we never read.
func (ss *session) linger() {
	if cw, ok := ss.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = ss.raw.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, ss.raw)
}

// sanitize keeps echoed client input printable and short.
func sanitize(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
