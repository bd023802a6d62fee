package lab_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

func start(t *testing.T, sc lab.Scenario, opts lab.ServerOptions) *lab.Server {
	t.Helper()
	s, err := lab.Start(context.Background(), sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// client is a deliberately dumb line client, independent of smtpprobe.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, s *lab.Server) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

// reply reads lines until one whose fourth byte is not '-'.
func (c *client) reply() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

func (c *client) cmd(line string) []string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

func TestGoodWithNetSMTP(t *testing.T) {
	s := start(t, lab.Good, lab.ServerOptions{})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.lab"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not advertised")
	}
	if err := c.StartTLS(&tls.Config{RootCAs: s.CA().Pool(), ServerName: s.Hostname()}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised inside TLS")
	}
	if ok, p := c.Extension("AUTH"); !ok || p != "NTLM LOGIN" {
		t.Errorf("AUTH after TLS = %v %q", ok, p)
	}
	if err := c.Mail("a@contoso.lab"); err == nil || !strings.Contains(err.Error(), "5.7.57") {
		t.Errorf("MAIL: %v, want 530 refusal", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Connections != 1 || st.Handshakes != 1 || st.Quits != 1 || st.MailCommands != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestBannerAndEHLO(t *testing.T) {
	for _, last := range []bool{false, true} {
		s := start(t, lab.Good, lab.ServerOptions{StartTLSLast: last, Hostname: "E19.contoso.lab"})
		c := dial(t, s)
		b := c.reply()
		if len(b) != 2 || !strings.HasPrefix(b[0], "220-E19.contoso.lab Microsoft ESMTP MAIL Service ready at ") || !strings.HasPrefix(b[1], "220 ") {
			t.Errorf("banner %q", b)
		}
		e := c.cmd("EHLO client.lab")
		if !strings.HasPrefix(e[0], "250-E19.contoso.lab Hello [127.0.0.1]") {
			t.Errorf("EHLO first line %q", e[0])
		}
		if got := e[len(e)-1] == "250 STARTTLS"; got != last {
			t.Errorf("StartTLSLast=%v: last line %q", last, e[len(e)-1])
		}
		if r := c.cmd("NOOP"); r[0] != "250 2.0.0 OK" {
			t.Errorf("NOOP %q", r)
		}
		if r := c.cmd("RSET"); !strings.HasPrefix(r[0], "250 ") {
			t.Errorf("RSET %q", r)
		}
		if r := c.cmd("VRFY x"); !strings.HasPrefix(r[0], "500 5.3.3") {
			t.Errorf("VRFY %q", r)
		}
		if r := c.cmd("QUIT"); !strings.HasPrefix(r[0], "221 2.0.0") {
			t.Errorf("QUIT %q", r)
		}
	}
}

func TestCustomBanner(t *testing.T) {
	s := start(t, lab.Good, lab.ServerOptions{Banner: []string{"one", "two", "three"}})
	c := dial(t, s)
	if b := strings.Join(c.reply(), "|"); b != "220-one|220-two|220 three" {
		t.Errorf("banner %q", b)
	}
}

func TestNoStartTLSCatalogK(t *testing.T) {
	s := start(t, lab.NoStartTLS, lab.ServerOptions{Hostname: "E19.contoso.lab"})
	c := dial(t, s)
	c.reply()
	got := strings.Join(c.cmd("EHLO client.lab"), "\n")
	want := "250-E19.contoso.lab Hello [127.0.0.1]\n250-SIZE 37748736\n250-PIPELINING\n250-DSN\n250-ENHANCEDSTATUSCODES\n250-X-ANONYMOUSTLS\n250 AUTH NTLM"
	if got != want {
		t.Errorf("EHLO reply\n%s\nwant\n%s", got, want)
	}
	if r := c.cmd("STARTTLS"); !strings.HasPrefix(r[0], "500 ") {
		t.Errorf("STARTTLS %q", r)
	}
}

func TestStartTLSRefused(t *testing.T) {
	s := start(t, lab.StartTLSRefused, lab.ServerOptions{})
	c := dial(t, s)
	c.reply()
	c.cmd("EHLO client.lab")
	if r := c.cmd("STARTTLS"); r[0] != "454 4.7.0 TLS not available due to temporary reason" {
		t.Errorf("STARTTLS %q", r)
	}
}

func TestStartTLSNeedsHello(t *testing.T) {
	s := start(t, lab.Good, lab.ServerOptions{})
	c := dial(t, s)
	c.reply()
	if r := c.cmd("STARTTLS"); !strings.HasPrefix(r[0], "503 ") {
		t.Errorf("STARTTLS before EHLO %q", r)
	}
}

func TestHELOOnly(t *testing.T) {
	s := start(t, lab.HELOOnly, lab.ServerOptions{})
	c := dial(t, s)
	c.reply()
	if r := c.cmd("EHLO client.lab"); !strings.HasPrefix(r[0], "500 ") {
		t.Errorf("EHLO %q", r)
	}
	if r := c.cmd("HELO client.lab"); !strings.HasPrefix(r[0], "250 ") || len(r) != 1 {
		t.Errorf("HELO %q", r)
	}
}

func TestLongCommandLine(t *testing.T) {
	s := start(t, lab.Good, lab.ServerOptions{MaxLineLength: 64})
	c := dial(t, s)
	c.reply()
	if r := c.cmd("NOOP " + strings.Repeat("x", 100)); !strings.HasPrefix(r[0], "500 5.5.6") {
		t.Errorf("long line %q", r)
	}
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("connection not closed after long line: %v", err)
	}
}

func TestSilent(t *testing.T) {
	s := start(t, lab.Silent, lab.ServerOptions{})
	c := dial(t, s)
	_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.r.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("silent server sent %d bytes, err %v", n, err)
	}
}

func TestHugeLine(t *testing.T) {
	s := start(t, lab.HugeLine, lab.ServerOptions{})
	c := dial(t, s)
	n, err := io.CopyN(io.Discard, c.r, 1<<20)
	if err != nil || n != 1<<20 {
		t.Fatalf("read %d: %v", n, err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("more than 1 MiB sent")
	}
}

func TestEndlessMultiline(t *testing.T) {
	s := start(t, lab.EndlessMultiline, lab.ServerOptions{})
	c := dial(t, s)
	c.reply()
	io.WriteString(c.conn, "EHLO client.lab\r\n")
	for i := 0; i < 5000; i++ {
		l, err := c.r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "250-") {
			t.Fatalf("line %d %q %v", i, l, err)
		}
	}
}

func TestDripFeed(t *testing.T) {
	s := start(t, lab.DripFeed, lab.ServerOptions{DripInterval: 20 * time.Millisecond, Banner: []string{"drip"}})
	c := dial(t, s)
	t0 := time.Now()
	if b := c.reply(); b[0] != "220 drip" {
		t.Errorf("banner %q", b)
	}
	// "220 drip\r\n" is 10 bytes: at least 9 intervals.
	if d := time.Since(t0); d < 180*time.Millisecond {
		t.Errorf("banner arrived in %v, not dripped", d)
	}
	if r := c.cmd("EHLO client.lab"); !strings.HasPrefix(r[0], "250-") {
		t.Errorf("EHLO after drip %q", r)
	}
}

// expectHandshakeFailure speaks STARTTLS and checks that a TLS handshake fails.
func expectHandshakeFailure(t *testing.T, sc lab.Scenario) {
	s := start(t, sc, lab.ServerOptions{})
	c := dial(t, s)
	c.reply()
	c.cmd("EHLO client.lab")
	if r := c.cmd("STARTTLS"); r[0] != "220 2.0.0 SMTP server ready" {
		t.Fatalf("STARTTLS %q", r)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Errorf("%s: handshake succeeded", sc)
	}
}

func TestGarbageTLS(t *testing.T)        { expectHandshakeFailure(t, lab.GarbageTLS) }
func TestCloseMidHandshake(t *testing.T) { expectHandshakeFailure(t, lab.CloseMidHandshake) }

func TestRequireClientCert(t *testing.T) {
	s := start(t, lab.RequireClientCert, lab.ServerOptions{})
	cc, err := s.CA().Issue(lab.IssueOptions{CommonName: "client.lab", ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, withCert := range []bool{true, false} {
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{RootCAs: s.CA().Pool(), ServerName: s.Hostname(), MaxVersion: tls.VersionTLS12}
		if withCert {
			cfg.Certificates = []tls.Certificate{cc.TLSCertificate()}
		}
		err = c.StartTLS(cfg)
		if (err == nil) != withCert {
			t.Errorf("client cert %v: StartTLS err %v", withCert, err)
		}
		c.Close()
	}
}

func TestLegacyVersions(t *testing.T) {
	for sc, max := range map[lab.Scenario]uint16{lab.LegacyTLS: tls.VersionTLS11, lab.TLS10Only: tls.VersionTLS10} {
		s := start(t, sc, lab.ServerOptions{})
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
			c := dial(t, s)
			c.reply()
			c.cmd("EHLO client.lab")
			c.cmd("STARTTLS")
			tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
			err := tc.Handshake()
			if (err == nil) != (v <= max) {
				t.Errorf("%s %s: %v", sc, tls.VersionName(v), err)
			}
		}
	}
}

func TestCloseWaitsAndContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := lab.Start(ctx, lab.Silent, lab.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	cancel()
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute)) // a hang guard, not a bound
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("held connection after cancel: %v", err)
	}
	if err := s.Close(); err != nil { // waits for the context-triggered close
		t.Error(err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("still listening after Close")
	}
}

func TestUnknownScenario(t *testing.T) {
	if _, err := lab.Start(context.Background(), "nope", lab.ServerOptions{}); !errors.Is(err, lab.ErrUnknownScenario) {
		t.Errorf("err %v", err)
	}
}

func TestAllScenariosStart(t *testing.T) {
	ca := newCA(t)
	for _, sc := range lab.Scenarios() {
		s := start(t, sc, lab.ServerOptions{CA: ca})
		if s.Scenario() != sc || s.Certificate() == nil || s.CA() != ca {
			t.Errorf("%s: accessors", sc)
		}
	}
}
