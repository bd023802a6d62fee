// Package checktest writes realistic Exchange evidence files for tests of
// the agent's checks: SMTP protocol logs in Exchange's exact CSV format,
// Get-Queue exports, and connector inventories, as an Exchange server would
// produce them. Nothing here is a mock: the checks read these files with
// their real parsers.
package checktest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/exchange"
)

// SeedLastError is the queue LastError of the seed incident.
const SeedLastError = `[{LED=451 4.4.395 Target host responded with error. -> 421 4.4.1 Connection timed out};{MSG=};{FQDN=tenant-mail-onmicrosoft-com.mail.protection.outlook.com};{IP=};{LRT=5/2/2019 6:32:14 AM}]`

// Session describes one SMTP session to write into a protocol log.
type Session struct {
	ID        string // 16 hex chars; default derived from Start
	Connector string
	Local     string // default 10.0.0.5:28311
	Remote    string // default 104.47.1.33:25
	Banner    string // peer's 220 line (send) - default an Exchange Online front end
	Start     time.Time
	// Caps are the EHLO capabilities; default includes STARTTLS.
	Caps []string
	// NoStartTLS drops STARTTLS from the capabilities and does not issue it.
	NoStartTLS bool
	// SentThumbprint / SentSubject: the "Sending certificate" block ("" none).
	SentThumbprint string
	SentSubject    string
	SentIssuer     string
	// Condensed writes the certificate in the single-row form.
	Condensed bool
	// Failure is the SSPI status ("NoCredentials"); "" means success.
	Failure string
	// Reply is an extra reply the peer sends after EHLO/STARTTLS instead of
	// completing (e.g. "454 4.7.5 The certificate specified ... could not be found."),
	// or, after a successful TLS handshake, to RCPT TO (e.g. "550 5.7.323 ...").
	Reply string
}

func q(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// SendLog renders a complete SMTP Send protocol log file.
func SendLog(sessions ...Session) []byte {
	return renderLog("SMTP Send Protocol Log", sessions, true)
}

// ReceiveLog renders a complete SMTP Receive protocol log file (Remote is
// the client, Local this server).
func ReceiveLog(sessions ...Session) []byte {
	return renderLog("SMTP Receive Protocol Log", sessions, false)
}

func renderLog(logType string, sessions []Session, send bool) []byte {
	var b bytes.Buffer
	date := time.Date(2019, 5, 2, 6, 0, 0, 1e6, time.UTC)
	if len(sessions) > 0 && !sessions[0].Start.IsZero() {
		date = sessions[0].Start.Truncate(time.Hour)
	}
	fmt.Fprintf(&b, "#Software: Microsoft Exchange Server\r\n#Version: 15.02.0330.005\r\n#Log-Type: %s\r\n#Date: %s\r\n", logType, date.Format("2006-01-02T15:04:05.000Z"))
	b.WriteString("#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n")
	for i, s := range sessions {
		writeSession(&b, s, i, send)
	}
	return b.Bytes()
}

func writeSession(b *bytes.Buffer, s Session, n int, send bool) {
	if s.Start.IsZero() {
		s.Start = time.Date(2019, 5, 2, 6, 32, 10, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	}
	if s.ID == "" {
		s.ID = fmt.Sprintf("08D6CE8F%08X", s.Start.Unix()&0xffffffff+int64(n))
	}
	if s.Local == "" {
		s.Local = "10.0.0.5:28311"
	}
	if s.Remote == "" {
		s.Remote = "104.47.1.33:25"
	}
	if s.Banner == "" {
		s.Banner = "AM5EUR03FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 2 May 2019 06:32:09 +0000"
	}
	caps := s.Caps
	if caps == nil {
		caps = []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME", "BINARYMIME", "CHUNKING"}
	}
	if s.NoStartTLS {
		var keep []string
		for _, c := range caps {
			if !strings.EqualFold(c, "STARTTLS") {
				keep = append(keep, c)
			}
		}
		caps = keep
	}
	seq := 0
	t := s.Start
	row := func(ev, data, ctx string) {
		fmt.Fprintf(b, "%s,%s,%s,%d,%s,%s,%s,%s,%s\r\n", t.Format("2006-01-02T15:04:05.000Z"), q(s.Connector), s.ID, seq, s.Local, s.Remote, ev, q(data), q(ctx))
		seq++
		t = t.Add(7 * time.Millisecond)
	}
	// us/peer are the events of the client's and the server's lines: on
	// the send side this server is the client ('>' sent), on the receive
	// side the remote is ('<' received).
	peer, us := "<", ">"
	clientName := "edge01.contoso.com"
	if !send {
		peer, us = ">", "<"
		clientName = strings.SplitN(s.Banner, " ", 2)[0]
	}
	row("+", "", "")
	if send {
		row(peer, "220 "+s.Banner, "")
		row(us, "EHLO edge01.contoso.com", "")
		first := strings.SplitN(s.Banner, " ", 2)[0]
		lines := append([]string{first + " Hello [203.0.113.10]"}, caps...)
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			row(peer, "250"+sep+l, "")
		}
	} else {
		// Receive side: this server (the SMTP server, "peer" of the
		// client-role lines below) greets; Banner's first word is the
		// client's EHLO name.
		row(peer, "220 edge01.contoso.com Microsoft ESMTP MAIL Service ready", "")
		row(us, "EHLO "+clientName, "")
		row(peer, "250  edge01.contoso.com Hello ["+strings.SplitN(s.Remote, ":", 2)[0]+"] "+strings.Join(caps, " "), "")
	}
	if s.NoStartTLS {
		if s.Reply != "" {
			row(us, "MAIL FROM:<>", "")
			row(peer, s.Reply, "")
		}
		row("-", "", "Local")
		return
	}
	if s.Reply != "" && strings.HasPrefix(s.Reply, "454") {
		row(us, "STARTTLS", "")
		row(peer, s.Reply, "")
		row("-", "", "Local")
		return
	}
	row(us, "STARTTLS", "")
	row(peer, "220 2.0.0 SMTP server ready", "")
	if s.SentThumbprint != "" {
		subj, iss := s.SentSubject, s.SentIssuer
		if subj == "" {
			subj = "CN=mail.contoso.com, O=Contoso, C=NL"
		}
		if iss == "" {
			iss = "CN=Contoso Issuing CA"
		}
		if s.Condensed {
			row("*", fmt.Sprintf("%s %s 0A1B2C3D4E5F6071 %s 4/2/2019 12:00:00 AM 4/2/2021 12:00:00 PM mail.contoso.com", subj, iss, s.SentThumbprint),
				"Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names")
		} else {
			row("*", "", "Sending certificate")
			row("*", subj, "Certificate subject")
			row("*", iss, "Certificate issuer name")
			row("*", "0A1B2C3D4E5F60718293A4B5C6D7E8F9", "Certificate serial number")
			row("*", s.SentThumbprint, "Certificate thumbprint")
			row("*", "mail.contoso.com;edge01.contoso.com", "Certificate alternate names")
		}
	}
	if s.Failure != "" {
		row("*", "", "TLS negotiation failed with error "+s.Failure)
		if s.Reply != "" {
			row(peer, s.Reply, "")
		}
		row("-", "", "Local")
		return
	}
	proto := "SP_PROT_TLS1_2_CLIENT"
	if !send {
		proto = "SP_PROT_TLS1_2_SERVER"
	}
	row("*", "", "TLS protocol "+proto+" negotiation succeeded using bulk encryption algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits")
	row(us, "EHLO "+clientName, "")
	row(peer, "250 OK", "")
	if s.Reply != "" {
		row(us, "MAIL FROM:<postmaster@contoso.com>", "")
		row(peer, "250 2.1.0 Sender OK", "")
		row(us, "RCPT TO:<user@fabrikam.com>", "")
		row(peer, s.Reply, "")
	}
	row(us, "QUIT", "")
	row(peer, "221 2.0.0 Service closing transmission channel", "")
	row("-", "", "Local")
}

// WriteFile writes data to dir/name (directories created) and returns the path.
func WriteFile(dir, name string, data []byte) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, 0o644)
}

// QueueJSON renders Get-Queue | ConvertTo-Json output (Windows PowerShell
// 5.1 shape) for one queue in Retry.
func QueueJSON(identity, nextHop string, messages int, lastError string) []byte {
	le := strings.ReplaceAll(strings.ReplaceAll(lastError, `\`, `\\`), `"`, `\"`)
	le = strings.ReplaceAll(le, "->", `-\u003e`)
	return fmt.Appendf(nil, `[
    {
        "DeliveryType":  13,
        "NextHopDomain":  %q,
        "TlsPolicy":  null,
        "NextHopConnector":  "9a1e0a1c-5f1e-4f3b-8e3f-8c2f7d0e4b11",
        "Status":  3,
        "MessageCount":  %d,
        "LastError":  "%s",
        "LastRetryTime":  "\/Date(1556778734000)\/",
        "NextRetryTime":  "\/Date(1556779334000)\/",
        "Identity":  %q
    },
    {
        "DeliveryType":  0,
        "NextHopDomain":  "Submission",
        "Status":  2,
        "MessageCount":  0,
        "LastError":  null,
        "Identity":  "EDGE01\\Submission"
    }
]
`, nextHop, messages, le, identity)
}

// WriteConfig writes inv to path in the documented canonical form.
func WriteConfig(path string, inv *exchange.Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := exchange.WriteConfig(f, inv); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
