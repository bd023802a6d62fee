package smtpprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// readerSize is the bufio buffer in front of the connection; replies longer
// than that are assembled by readLine within Limits.MaxLineLength.
const readerSize = 4096

// quitIdle bounds the wait for the reply to QUIT.
const quitIdle = time.Second

// Probe runs one STARTTLS probe against target (host:port, host, or
// smtp://host[:port]). It never sends mail and QUITs when the dialogue is
// still in a sane state. It returns within opts.Timeout (plus scheduling
// noise) whatever the server does.
func Probe(ctx context.Context, target string, opts Options) (res Result) {
	start := time.Now()
	res.Target, res.Phase = target, PhaseConnect
	defer func() { res.Durations.Total = time.Since(start) }()

	addr, err := ParseTarget(target)
	if err != nil {
		res.Err = err
		return res
	}
	res.Target = addr
	host, _, _ := net.SplitHostPort(addr)
	if opts, err = opts.withDefaults(host); err != nil {
		res.Err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	suites := probeCipherSuites()
	s := &session{ctx: ctx, opts: opts, res: &res, addr: addr, suites: suites}
	res.Err = s.run()
	s.close()
	if res.Err == nil {
		res.Phase = PhaseDone
	}
	if opts.ProbeVersions && res.StartTLSReply != nil && res.StartTLSReply.Code == 220 {
		res.SupportedVersions = probeVersions(ctx, addr, opts, suites)
	}
	return res
}

// session is one SMTP connection of a probe.
type session struct {
	ctx    context.Context
	opts   Options
	res    *Result
	addr   string
	suites []uint16

	raw  *deadlineConn
	conn net.Conn // raw, then the TLS connection
	r    *bufio.Reader
	stop func() bool
	rec  tlsRecorder
}

// run drives the full dialogue; the phase it stops in is left in res.Phase.
func (s *session) run() error {
	if err := s.connect(); err != nil {
		return err
	}
	if err := s.greeting(); err != nil {
		return err
	}
	if err := s.hello(); err != nil {
		return err
	}
	if err := s.startTLS(); err != nil {
		return err
	}
	if err := s.handshake(s.opts.MinVersion, s.opts.MaxVersion); err != nil {
		return err
	}
	if err := s.helloTLS(); err != nil {
		return err
	}
	s.quit()
	return nil
}

func (s *session) connect() error {
	s.res.Phase = PhaseConnect
	t0 := time.Now()
	c, err := s.opts.DialContext(s.ctx, "tcp", s.addr)
	s.res.Durations.Connect = time.Since(t0)
	if err != nil {
		if s.ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrConnect, classifyIO(s.ctx, "dial "+s.addr, err))
		}
		return fmt.Errorf("%w: dial %s: %w", ErrConnect, s.addr, err)
	}
	dl, _ := s.ctx.Deadline()
	s.raw = &deadlineConn{Conn: c, ctx: s.ctx, overall: dl, idle: s.opts.Limits.IdleTimeout}
	s.stop = context.AfterFunc(s.ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	s.conn = s.raw
	s.r = bufio.NewReaderSize(s.raw, readerSize)
	s.res.RemoteAddr = c.RemoteAddr().String()
	return nil
}

func (s *session) greeting() error {
	s.res.Phase = PhaseBanner
	t0 := time.Now()
	rep, err := s.read("reading banner")
	s.res.Durations.Banner = time.Since(t0)
	s.res.Banner, s.res.GreetingCode = rep.Lines, rep.Code
	s.res.BannerBytes = s.raw.received
	s.res.MaskedBanner = maskedBanner(rep.Lines)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoBanner, err)
	}
	if rep.Code != 220 {
		s.quit()
		return fmt.Errorf("%w: greeting %q", ErrRejected, rep.String())
	}
	return nil
}

// hello says EHLO, falling back to HELO when EHLO gets a 5xx.
func (s *session) hello() error {
	s.res.Phase = PhaseEHLO
	rep, err := s.command("EHLO " + s.opts.EHLOName)
	if err != nil {
		return err
	}
	switch {
	case rep.Code == 250:
		s.res.EHLOGreeting, s.res.Capabilities = parseEHLO(rep)
		s.res.StartTLSOffered = s.res.Capabilities.Has("STARTTLS")
		s.res.MaskedCapabilities = maskedKeywords(s.res.Capabilities)
		return nil
	case rep.Code/100 != 5:
		s.quit()
		return fmt.Errorf("%w: EHLO answered %q", ErrRejected, rep.String())
	}
	s.res.UsedHELO = true
	rep, err = s.command("HELO " + s.opts.EHLOName)
	if err != nil {
		return err
	}
	if rep.Code != 250 {
		s.quit()
		return fmt.Errorf("%w: EHLO and HELO refused, HELO answered %q", ErrRejected, rep.String())
	}
	s.res.EHLOGreeting = rep.Lines[0]
	return nil
}

func (s *session) startTLS() error {
	s.res.Phase = PhaseStartTLS
	if !s.res.StartTLSOffered {
		s.quit()
		if s.res.UsedHELO {
			return fmt.Errorf("%w: EHLO refused, HELO has no extensions", ErrStartTLSNotOffered)
		}
		return fmt.Errorf("%w: EHLO reply has no STARTTLS", ErrStartTLSNotOffered)
	}
	rep, err := s.command("STARTTLS")
	if err != nil {
		return err
	}
	s.res.StartTLSReply = &rep
	if rep.Code != 220 {
		s.quit()
		return fmt.Errorf("%w: %q", ErrStartTLSRefused, rep.String())
	}
	if n := s.r.Buffered(); n > 0 {
		return fmt.Errorf("%w: %d bytes after the 220 to STARTTLS, before TLS", ErrProtocol, n)
	}
	return nil
}

// handshake runs TLS over the raw connection. The chain is captured by the
// recorder and verified afterwards, whether or not the handshake completed.
func (s *session) handshake(minV, maxV uint16) error {
	s.res.Phase = PhaseHandshake
	s.rec = tlsRecorder{clientCert: s.opts.ClientCertificate}
	cfg := &tls.Config{
		ServerName: s.opts.ServerName,
		// Verification is done by VerifyChain once the chain is recorded,
		// so that a broken certificate is data, not a failed probe.
		InsecureSkipVerify:   true,
		MinVersion:           minV,
		MaxVersion:           maxV,
		CipherSuites:         s.suites,
		VerifyConnection:     s.rec.verifyConnection,
		GetClientCertificate: s.rec.getClientCertificate,
	}
	tc := tls.Client(s.raw, cfg)
	t0 := time.Now()
	before := s.raw.received
	err := tc.HandshakeContext(s.ctx)
	s.res.Durations.Handshake = time.Since(t0)

	info := &TLSInfo{ServerName: cfg.ServerName, ExpectName: s.opts.ExpectName,
		PeerCertificates: s.rec.peer, ClientCertAcceptableCAs: s.rec.acceptableCAs,
		ServerBytes: s.raw.received - before}
	if s.rec.presented && s.rec.clientCert != nil {
		info.ClientCertificate = s.rec.clientCert.Leaf
		if info.ClientCertificate == nil && len(s.rec.clientCert.Certificate) > 0 {
			info.ClientCertificate, _ = x509.ParseCertificate(s.rec.clientCert.Certificate[0])
		}
	}
	s.res.TLS = info
	s.res.ClientCertRequested, s.res.ClientCertPresented = s.rec.requested, s.rec.presented
	info.OCSPStaple = s.rec.staple
	if len(s.rec.peer) > 0 {
		info.LeafKeyAlgorithm, info.LeafKeyBits = keyInfo(s.rec.peer[0])
		info.Verify = VerifyChain(s.rec.peer, s.opts.RootCAs, s.opts.ExpectName, time.Now())
	}
	if err != nil {
		return s.handshakeError("TLS handshake", err)
	}
	cs := tc.ConnectionState()
	info.Version, info.VersionName = cs.Version, tls.VersionName(cs.Version)
	info.CipherSuite, info.CipherSuiteName = cs.CipherSuite, tls.CipherSuiteName(cs.CipherSuite)
	s.conn = tc
	s.r = bufio.NewReaderSize(tc, readerSize)
	return nil
}

// handshakeError classifies a handshake failure, noting a server alert
// and whether it rejected our (absent or presented) client certificate.
func (s *session) handshakeError(what string, err error) error {
	s.res.Phase = PhaseHandshake
	if alert, ok := remoteAlert(err); ok {
		s.res.TLS.Alert = alert
		if s.rec.requested && isCertAlert(alert) {
			s.res.ClientCertRejected = true
			return fmt.Errorf("%w: %w: %s: %w", ErrHandshake, ErrClientCertRejected, what, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrHandshake, classifyIO(s.ctx, what, err))
}

// helloTLS repeats EHLO inside TLS. With TLS 1.3 a server's verdict on our
// client certificate arrives here, after Handshake returned.
func (s *session) helloTLS() error {
	s.res.Phase = PhasePostTLS
	s.res.logSent("EHLO " + s.opts.EHLOName + " (inside TLS)")
	if _, err := io.WriteString(s.conn, "EHLO "+s.opts.EHLOName+"\r\n"); err != nil {
		return s.postTLSError("sending EHLO inside TLS", err)
	}
	rep, err := ReadReply(s.r, s.opts.Limits)
	s.res.logReply(rep)
	if err != nil {
		return s.postTLSError("reading EHLO reply inside TLS", err)
	}
	if rep.Code != 250 {
		s.quit()
		if rep.Code >= 400 && s.res.ClientCertRequested && mentionsCertificate(rep) {
			// The partner judged our client certificate after the
			// handshake and said so in SMTP (Exchange: "421 4.7.1 ...
			// Client certificate not trusted").
			s.res.ClientCertRejected = true
			s.res.TLS.ClientCertReply = &rep
			return fmt.Errorf("%w: %w: EHLO inside TLS answered %q", ErrRejected, ErrClientCertRejected, rep.String())
		}
		return fmt.Errorf("%w: EHLO inside TLS answered %q", ErrRejected, rep.String())
	}
	_, s.res.PostTLSCapabilities = parseEHLO(rep)
	return nil
}

// mentionsCertificate reports a reply about a certificate.
func mentionsCertificate(r Reply) bool {
	return strings.Contains(strings.ToLower(r.Text()), "certificate")
}

// maskedKeywords returns EHLO keywords an ESMTP-inspecting firewall
// overwrote: all X's, the last letter possibly kept ("XXXXXXXA" is Cisco
// ASA's STARTTLS).
func maskedKeywords(cs Capabilities) []string {
	var out []string
	for _, c := range cs {
		k := c.Keyword
		if len(k) < 4 {
			continue
		}
		body := strings.TrimRight(k[:len(k)-1], "X")
		if body == "" && (k[len(k)-1] == 'X' || k[len(k)-1] >= 'A' && k[len(k)-1] <= 'Z') {
			out = append(out, k)
		}
	}
	return out
}

// maskedBanner reports a greeting mostly made of asterisks (Cisco ASA/PIX
// "inspect esmtp" masks the banner that way).
func maskedBanner(lines []string) bool {
	if len(lines) == 0 {
		return false
	}
	stars, other := 0, 0
	for _, r := range lines[0] {
		switch {
		case r == '*':
			stars++
		case r != ' ':
			other++
		}
	}
	return stars >= 10 && stars > 2*other
}

func (s *session) postTLSError(what string, err error) error {
	if _, ok := remoteAlert(err); ok {
		return s.handshakeError(what, err)
	}
	return classifyIO(s.ctx, what, err)
}

// command sends one line and reads the reply.
func (s *session) command(line string) (Reply, error) {
	verb, _, _ := strings.Cut(line, " ")
	s.res.logSent(line)
	if _, err := io.WriteString(s.conn, line+"\r\n"); err != nil {
		return Reply{}, classifyIO(s.ctx, "sending "+verb, err)
	}
	return s.read("reading reply to " + verb)
}

func (s *session) read(what string) (Reply, error) {
	rep, err := ReadReply(s.r, s.opts.Limits)
	s.res.logReply(rep)
	if err != nil {
		return rep, classifyIO(s.ctx, what, err)
	}
	return rep, nil
}

// quit says QUIT and waits briefly for the 221; failures are ignored.
func (s *session) quit() {
	if s.conn == nil {
		return
	}
	s.raw.idle = min(s.raw.idle, quitIdle)
	_, _ = s.command("QUIT")
}

func (s *session) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// probeCipherSuites offers every suite Go implements, insecure ones
// included: the probe carries no secrets and must see legacy servers.
func probeCipherSuites() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		ids = append(ids, cs.ID)
	}
	for _, cs := range tls.InsecureCipherSuites() {
		ids = append(ids, cs.ID)
	}
	return ids
}
